// Equivalent client code for the playground: curl, Python (huggingface_hub pointed at this origin)
// and JS (@huggingface/inference). Snippets use $HF_TOKEN placeholders, never the real token.

const q = (s) => JSON.stringify(s);

export function snippets(kind, { origin, url, ns, name, body }) {
  const json = JSON.stringify(body);
  const shq = (s) => `'${s.replace(/'/g, "'\\''")}'`;
  const route = { generate: '/generate_stream', chat: '/v1/chat/completions', embed: '/embed', classify: '/predict' }[kind];
  const curl = `curl ${kind === 'generate' || kind === 'chat' ? '-N ' : ''}${url}${route} \\
  -H "Authorization: Bearer $HF_TOKEN" \\
  -H "Content-Type: application/json" \\
  -d ${shq(json)}`;
  const pyHead = `import os
os.environ["HF_ENDPOINT"] = ${q(origin)}   # set before importing huggingface_hub
import huggingface_hub
from huggingface_hub import get_inference_endpoint
huggingface_hub.constants.INFERENCE_ENDPOINTS_ENDPOINT = ${q(`${origin}/v2`)}
huggingface_hub.hf_api.INFERENCE_ENDPOINTS_ENDPOINT = ${q(`${origin}/v2`)}  # huggingface_hub <= 0.24

endpoint = get_inference_endpoint(${q(name)}, namespace=${q(ns)}, token=os.environ["HF_TOKEN"])
client = endpoint.client
`;
  const p = body.parameters || {};
  let py; let js;
  if (kind === 'generate') {
    py = `${pyHead}for token in client.text_generation(${q(body.inputs)}, max_new_tokens=${p.max_new_tokens ?? 64}${p.temperature ? `, temperature=${p.temperature}, do_sample=True` : ''}, stream=True):
    print(token, end="", flush=True)`;
    js = `import { InferenceClient } from "@huggingface/inference";

const client = new InferenceClient(process.env.HF_TOKEN, { endpointUrl: ${q(url)} });
for await (const chunk of client.textGenerationStream({
  inputs: ${q(body.inputs)},
  parameters: { max_new_tokens: ${p.max_new_tokens ?? 64}${p.temperature ? `, temperature: ${p.temperature}, do_sample: true` : ''} },
})) process.stdout.write(chunk.token.text);`;
  } else if (kind === 'chat') {
    py = `${pyHead}for chunk in client.chat_completion(${JSON.stringify(body.messages)}, max_tokens=${body.max_tokens ?? 128}, stream=True):
    print(chunk.choices[0].delta.content or "", end="", flush=True)`;
    js = `import { InferenceClient } from "@huggingface/inference";

const client = new InferenceClient(process.env.HF_TOKEN, { endpointUrl: ${q(url)} });
for await (const chunk of client.chatCompletionStream({
  messages: ${JSON.stringify(body.messages)},
  max_tokens: ${body.max_tokens ?? 128},
})) process.stdout.write(chunk.choices[0]?.delta?.content ?? "");`;
  } else if (kind === 'embed') {
    py = `${pyHead}vectors = client.feature_extraction(${q(body.inputs)})
print(vectors.shape)`;
    js = `import { InferenceClient } from "@huggingface/inference";

const client = new InferenceClient(process.env.HF_TOKEN, { endpointUrl: ${q(url)} });
const vectors = await client.featureExtraction({ inputs: ${q(body.inputs)} });
console.log(vectors.length);`;
  } else {
    py = `${pyHead}print(client.text_classification(${q(body.inputs)}))`;
    js = `import { InferenceClient } from "@huggingface/inference";

const client = new InferenceClient(process.env.HF_TOKEN, { endpointUrl: ${q(url)} });
console.log(await client.textClassification({ inputs: ${q(body.inputs)} }));`;
  }
  return { curl, python: py, js };
}
