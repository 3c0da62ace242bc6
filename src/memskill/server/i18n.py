"""The dashboard's words in English and Chinese.

The language comes from `?lang=` (remembered in a cookie), else from the browser's Accept-Language.
"""

from __future__ import annotations

LANGUAGES = ("en", "zh")

WORDS: dict[str, dict[str, str]] = {
    "title": {"en": "memskill console", "zh": "memskill 控制台"},
    "sign_in": {"en": "Sign in", "zh": "登录"},
    "sign_out": {"en": "Sign out", "zh": "退出"},
    "api_key": {"en": "API key", "zh": "API 密钥"},
    "sign_in_hint": {
        "en": "Use a key made by `memskill keys create` (or MEMSKILL_API_KEY). The key is not stored in the "
        "browser; a signed session cookie is.",
        "zh": "使用 `memskill keys create` 生成的密钥（或 MEMSKILL_API_KEY）。"
        "浏览器里只保存签名的会话 Cookie，不保存密钥。",
    },
    "bad_key": {
        "en": "Unknown or revoked API key.",
        "zh": "密钥无效或已被吊销。",
    },
    "app_key": {
        "en": "This key is limited to app {app}; the console shows every user, so it needs a key without "
        "an app (`memskill keys create`).",
        "zh": "该密钥只能访问应用 {app}；控制台显示所有用户，"
        "需要一个不限应用的密钥（`memskill keys create`）。",
    },
    "api_reference": {"en": "API reference", "zh": "API 文档"},
    "users": {"en": "Users", "zh": "用户"},
    "jobs": {"en": "Jobs", "zh": "任务"},
    "playground": {"en": "Search playground", "zh": "检索试验台"},
    "user": {"en": "User", "zh": "用户"},
    "memories": {"en": "Memories", "zh": "记忆"},
    "preferences": {"en": "Preferences", "zh": "偏好"},
    "tool_memories": {"en": "Tool memories", "zh": "工具记忆"},
    "skills": {"en": "Skills", "zh": "技能"},
    "conversations": {"en": "Conversations", "zh": "对话"},
    "messages": {"en": "Messages", "zh": "消息"},
    "tokens": {"en": "Tokens", "zh": "Token 数"},
    "failed_jobs": {"en": "Failed jobs", "zh": "失败任务"},
    "last_active": {"en": "Last active", "zh": "最近活动"},
    "no_users": {
        "en": "No users yet: send a conversation with add/message (or run `memskill demo`).",
        "zh": "还没有用户：用 add/message 发送一段对话（或运行 `memskill demo`）。",
    },
    "all": {"en": "All", "zh": "全部"},
    "search": {"en": "Search", "zh": "搜索"},
    "query": {"en": "Query", "zh": "查询"},
    "kind": {"en": "Type", "zh": "类型"},
    "key": {"en": "Key", "zh": "键"},
    "value": {"en": "Value", "zh": "内容"},
    "status": {"en": "Status", "zh": "状态"},
    "updated": {"en": "Updated", "zh": "更新时间"},
    "created": {"en": "Created", "zh": "创建时间"},
    "relativity": {"en": "Relevance", "zh": "相关度"},
    "nothing": {"en": "Nothing here.", "zh": "这里还没有内容。"},
    "version": {"en": "Version", "zh": "版本"},
    "versions": {"en": "Versions", "zh": "版本历史"},
    "changes": {"en": "Changes", "zh": "变更"},
    "diff": {"en": "Diff", "zh": "差异"},
    "diff_with_previous": {"en": "diff with the previous version", "zh": "与上一版本比较"},
    "download_zip": {"en": "Download zip", "zh": "下载 zip"},
    "download_md": {"en": "Download SKILL.md", "zh": "下载 SKILL.md"},
    "delete": {"en": "Delete", "zh": "删除"},
    "delete_skill_confirm": {
        "en": "Delete this skill and all its versions? This cannot be undone.",
        "zh": "删除此技能及其所有版本？此操作不可撤销。",
    },
    "deleted": {"en": "Skill deleted.", "zh": "技能已删除。"},
    "procedure": {"en": "Procedure", "zh": "步骤"},
    "experience": {"en": "Experience", "zh": "经验"},
    "examples": {"en": "Examples", "zh": "示例"},
    "additional": {"en": "Additional information", "zh": "其他信息"},
    "skill_md": {"en": "SKILL.md", "zh": "SKILL.md 原文"},
    "from_conversations": {"en": "Learned from these conversations", "zh": "来自以下对话"},
    "conversation": {"en": "Conversation", "zh": "对话"},
    "role": {"en": "Role", "zh": "角色"},
    "time": {"en": "Time", "zh": "时间"},
    "job": {"en": "Job", "zh": "任务"},
    "attempts": {"en": "Attempts", "zh": "尝试次数"},
    "mode": {"en": "Mode", "zh": "模式"},
    "stages": {"en": "Stages", "zh": "阶段"},
    "error": {"en": "Error", "zh": "错误"},
    "duration": {"en": "Duration", "zh": "耗时"},
    "reason": {"en": "Reason", "zh": "原因"},
    "any_status": {"en": "Any status", "zh": "任意状态"},
    "filter": {"en": "Filter", "zh": "筛选"},
    "include_skills": {"en": "Include skills", "zh": "包含技能"},
    "include_tools": {"en": "Include tool memories", "zh": "包含工具记忆"},
    "include_preferences": {"en": "Include preferences", "zh": "包含偏好"},
    "agent_receives": {
        "en": "Exactly what an agent receives from search/memory:",
        "zh": "智能体调用 search/memory 时收到的内容：",
    },
    "prompt_text": {"en": "Prompt-ready text of the skills", "zh": "可直接放进提示词的技能文本"},
    "raw_json": {"en": "Raw JSON reply", "zh": "原始 JSON 回复"},
    "fact": {"en": "fact", "zh": "事实"},
    "preference": {"en": "preference", "zh": "偏好"},
    "tool": {"en": "tool", "zh": "工具"},
    "language": {"en": "中文", "zh": "English"},
    "page_missing": {"en": "Not found", "zh": "未找到"},
    "back": {"en": "Back", "zh": "返回"},
    "compare": {"en": "Compare", "zh": "比较"},
    "from": {"en": "from", "zh": "从"},
    "to": {"en": "to", "zh": "到"},
    "truncated": {"en": "Showing the first {n}.", "zh": "只显示前 {n} 条。"},
    "state": {"en": "State", "zh": "状态"},
    "candidate": {"en": "candidate", "zh": "候选"},
    "active": {"en": "active", "zh": "已启用"},
    "retired": {"en": "retired", "zh": "已停用"},
    "reliability": {"en": "reliability", "zh": "可靠度"},
    "waiting_version": {"en": "waiting for review; agents get", "zh": "待审核；智能体当前拿到的是"},
    "lacks": {"en": "Not served yet", "zh": "尚未启用"},
    "approve": {"en": "Approve", "zh": "批准"},
    "reject": {"en": "Reject", "zh": "驳回"},
    "retire": {"en": "Retire", "zh": "停用"},
    "by": {"en": "by", "zh": "作者"},
    "held_out": {"en": "Held out (no evidence)", "zh": "未采纳（缺少依据）"},
    "history": {"en": "History", "zh": "操作记录"},
    "who": {"en": "Who", "zh": "操作人"},
    "action": {"en": "Action", "zh": "操作"},
}


def words(language: str) -> dict[str, str]:
    """Every word in `language` (English for anything missing)."""
    return {key: texts.get(language, texts["en"]) for key, texts in WORDS.items()}


def choose(query: str | None, cookie: str | None, accept_language: str | None) -> str:
    for candidate in (query, cookie):
        if candidate in LANGUAGES:
            return candidate
    return "zh" if (accept_language or "").lower().startswith("zh") else "en"
