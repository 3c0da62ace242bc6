"""Store one travel-planning conversation through the add/message endpoint.

Works unchanged against memskill (`memskill serve`) and MemOS Cloud: set MEMOS_BASE_URL and MEMOS_API_KEY.
"""

import json
import os

import requests

base_url = os.environ.get("MEMOS_BASE_URL", "http://127.0.0.1:8000/api/openmem/v1")
headers = {
    "Content-Type": "application/json",
    "Authorization": f"Token {os.environ.get('MEMOS_API_KEY', '')}",
}
data = {
    "user_id": "example-traveller",
    "conversation_id": "example-chengdu-trip",
    "messages": [
        {
            "role": "user",
            "content": "我五一想去成都玩5天，帮我排个行程。我喜欢一路往前走，行程尽量不走回头路，"
            "别把时间浪费在折返上。",
        },
        {
            "role": "assistant",
            "content": "好的，我按由西向东的顺序安排：第1天青城山，第2天都江堰，第3天市区，"
            "第4天春熙路和太古里逛街购物，第5天熊猫基地。",
        },
        {
            "role": "user",
            "content": "逛商场就算了，我更喜欢文化景点，比如博物馆、古迹和老街。"
            "还有，以后规划行程前请先帮我查一下天气。",
        },
        {
            "role": "assistant",
            "content": "明白。先查天气：五一期间成都多云，18–27℃，第3天可能有阵雨。"
            "调整后第3天上午去四川博物院避雨，第4天换成杜甫草堂和宽窄巷子，全程不走回头路。",
        },
    ],
    "async_mode": False,  # reply after the memories have been extracted
}

res = requests.post(url=f"{base_url}/add/message", headers=headers, data=json.dumps(data))
print(json.dumps(res.json(), ensure_ascii=False, indent=2))
res.raise_for_status()  # a non-zero exit status on an error reply, after showing its message
