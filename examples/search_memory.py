"""Search a user's memories, preferences and skills before answering a new request.

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
    "query": "清明节我打算去云南，帮我规划7天的行程。",
    "include_skill": True,
}

res = requests.post(url=f"{base_url}/search/memory", headers=headers, data=json.dumps(data))
print(json.dumps(res.json(), ensure_ascii=False, indent=2))
res.raise_for_status()  # a non-zero exit status on an error reply, after showing its message
