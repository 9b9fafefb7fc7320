// OCR an image through the gateway with the official `openai` npm package, streaming the answer.
//
//   npm ci && node ocr_stream.mjs scan.png ["Extract the text in the image."]
//
// Environment: OCR_GATEWAY_URL (default http://127.0.0.1:8000/v1), OPENAI_API_KEY, MODEL (default: the
// server's first model), MAX_TOKENS (optional cap on the answer).
import { readFileSync } from "node:fs";
import { extname } from "node:path";
import OpenAI from "openai";

const [image, prompt = "Extract the text in the image."] = process.argv.slice(2);
if (!image) {
  console.error("usage: node ocr_stream.mjs IMAGE [INSTRUCTION]");
  process.exit(2);
}
const client = new OpenAI({
  baseURL: process.env.OCR_GATEWAY_URL ?? "http://127.0.0.1:8000/v1",
  apiKey: process.env.OPENAI_API_KEY ?? "unused",
});
const model = process.env.MODEL ?? (await client.models.list()).data[0].id;
const mime = { ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp" }[extname(image).toLowerCase()] ?? "image/png";
const imageUrl = `data:${mime};base64,${readFileSync(image).toString("base64")}`;

const stream = await client.chat.completions.create({
  model,
  messages: [
    {
      role: "user",
      content: [
        { type: "image_url", image_url: { url: imageUrl } },
        { type: "text", text: prompt },
      ],
    },
  ],
  max_tokens: process.env.MAX_TOKENS ? Number(process.env.MAX_TOKENS) : undefined,
  stream: true,
  stream_options: { include_usage: true },
});
for await (const chunk of stream) {
  const text = chunk.choices[0]?.delta?.content;
  if (text) process.stdout.write(text);
  if (chunk.usage) {
    console.error(`\n[${chunk.usage.prompt_tokens} prompt + ${chunk.usage.completion_tokens} completion tokens]`);
  }
}
process.stdout.write("\n");
