#!/usr/bin/env bash
# make demo: every stage, small, on the bundled sample persona (fictional 林晓), on a CPU.
# ingest -> memory index -> dataset (memory-grounded) -> a short LoRA run on SmolLM2-135M -> serve -> ask.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${DEMO_DIR:-$repo/build/demo}
port=${DEMO_PORT:-8765}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false TWIN_SERVICE__PORT=$port

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

rm -rf "$work" && mkdir -p "$work"
cp "$repo/examples/sample_persona/twin.toml" "$work/"
cd "$work"
persona=$repo/examples/sample_persona

step "1/6 ingest the sample persona's WeChat and Telegram exports and posts"
twin ingest "$persona/exports" "$persona/posts"
twin corpus stats

step "2/6 index memories into the embedded Qdrant engine"
twin memory index
twin memory stats

step "3/6 build the style dataset (half the samples quote memories from before their session)"
twin dataset build

step "4/6 train a LoRA adapter on the packaged SmolLM2-135M (a few CPU steps)"
twin train

step "5/6 start the service on 127.0.0.1:$port"
twin serve > serve.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  if curl -fs "http://127.0.0.1:$port/ready" >/dev/null 2>&1; then break; fi
  if ! kill -0 $server 2>/dev/null; then cat serve.log; exit 1; fi
  sleep 1
done
curl -fs "http://127.0.0.1:$port/ready" >/dev/null || { cat serve.log; echo "service did not become ready"; exit 1; }

step "6/6 ask the twin about a past event"
python "$repo/scripts/ask.py" --base-url "http://127.0.0.1:$port/v1" --max-tokens 60 "What was your time in your first marathon?"
python "$repo/scripts/ask.py" --base-url "http://127.0.0.1:$port/v1" --max-tokens 60 "我们什么时候去莫干山爬山的？"

echo
echo "(SmolLM2-135M is a tiny CPU model: check the memories it was given, not its prose."
echo " For real answers set [train] base_model to a Qwen instruct model and train on a GPU.)"
printf '\nThe twin is at http://127.0.0.1:%s/ (web chat) and http://127.0.0.1:%s/v1 (OpenAI-compatible).\n' "$port" "$port"
if [[ -t 0 && -z "${DEMO_NO_WAIT:-}" ]]; then
  echo "Press Ctrl-C to stop it."
  wait $server
fi
