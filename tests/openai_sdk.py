"""The official `openai` Python SDK against hpcbot's /v1 routes.

Run by tests/api/openai_sdk.rs with the server's base URL as the only argument.
"""
import sys

from openai import OpenAI

client = OpenAI(base_url=sys.argv[1] + "/v1", api_key="unused", max_retries=0, timeout=30)

models = [m.id for m in client.models.list()]
assert "hpc-assistant" in models, models

reply = client.chat.completions.create(
    model="hpc-assistant",
    messages=[{"role": "user", "content": "what gpus do you have"}],
)
text = reply.choices[0].message.content
assert "A100-80GB" in text, text
assert reply.choices[0].finish_reason == "stop"

pieces = []
for chunk in client.chat.completions.create(
    model="hpc-assistant",
    messages=[{"role": "user", "content": "how much is an h100?"}],
    stream=True,
):
    if chunk.choices and chunk.choices[0].delta.content:
        pieces.append(chunk.choices[0].delta.content)
streamed = "".join(pieces)
assert "H100-80GB" in streamed and "$" in streamed, streamed
assert len(pieces) > 1, pieces

# The conversation is the messages sent: a follow-up means what it means after them.
first = "is an h100 free tomorrow 9-12?"
answer = client.chat.completions.create(
    model="hpc-assistant", messages=[{"role": "user", "content": first}]
).choices[0].message.content
follow = client.chat.completions.create(
    model="hpc-assistant",
    messages=[
        {"role": "user", "content": first},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "what about L40S?"},
    ],
).choices[0].message.content
assert "L40S-48GB" in follow and "09:00" in follow and "12:00" in follow, follow

print("openai sdk: models, completion, stream and follow-up ok")
