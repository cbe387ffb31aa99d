"""Ask a running twin one question over its OpenAI-compatible API and print the answer with the
memories it used. Used by `make demo`; works against any Twin service.

    python scripts/ask.py --base-url http://127.0.0.1:8765/v1 "When did we hike at Moganshan?"
"""

from __future__ import annotations

import argparse
import os

import httpx


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("question")
    parser.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    parser.add_argument("--model", default="twin")
    parser.add_argument("--api-key", default=os.environ.get("TWIN_API_KEY", "none"))
    parser.add_argument("--max-tokens", type=int, default=80)
    args = parser.parse_args()
    body = {
        "model": args.model,
        "messages": [{"role": "user", "content": args.question}],
        "max_tokens": args.max_tokens,
        "temperature": 0,
        "twin_include_memories": True,
    }
    response = httpx.post(f"{args.base_url}/chat/completions", json=body,
                          headers={"Authorization": f"Bearer {args.api_key}"}, timeout=300)
    if response.status_code != 200:
        raise SystemExit(f"error {response.status_code}: {response.text}")
    data = response.json()
    print(f"\nQ: {args.question}\nA: {data['choices'][0]['message']['content'].strip()}\n")
    print("memories used:")
    for memory in data.get("twin_memories") or []:
        text = " ".join(str(memory.get("text", "")).split())
        print(f"  - [{memory.get('start', '')}] score {memory.get('score', 0):.3f}  {text[:110]}")


if __name__ == "__main__":
    main()
