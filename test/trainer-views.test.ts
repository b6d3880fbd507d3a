import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { jsonlRows, PINNED } from './format-helpers.js';
import { fixtureCopy, GOLDEN, readText, removeDir, runCli } from './helpers.js';

type Turn = { role: string; content: string };
const SYSTEM_PROMPT = 'You are a careful code reviewer.';

const isString = (value: unknown): value is string => typeof value === 'string';

/** OpenAI's chat fine-tuning line: only `messages`; an optional system turn first, then user and assistant alternating, ending with the assistant. */
function assertOpenAiChat(row: unknown): void {
  assert.deepEqual(Object.keys(row as object), ['messages']);
  const messages = (row as { messages: Turn[] }).messages;
  const turns = messages[0]!.role === 'system' ? messages.slice(1) : messages;
  assert.ok(turns.length >= 2 && turns.length % 2 === 0);
  turns.forEach((turn, n) => assert.equal(turn.role, n % 2 === 0 ? 'user' : 'assistant'));
  for (const message of messages) {
    assert.deepEqual(Object.keys(message), ['role', 'content']);
    assert.ok(isString(message.content) && message.content !== '');
  }
}

/** TRL's conversational prompt-completion: a prompt of turns ending with the user's, a completion of the assistant's. */
function assertTrlConversational(row: unknown): void {
  assert.deepEqual(Object.keys(row as object), ['prompt', 'completion']);
  const { prompt, completion } = row as { prompt: Turn[]; completion: Turn[] };
  assert.equal(prompt.at(-1)!.role, 'user');
  assert.ok(prompt.every((turn, n) => (n === 0 && turn.role === 'system') || turn.role === 'user'));
  assert.deepEqual(completion.map((turn) => turn.role), ['assistant']);
  for (const turn of [...prompt, ...completion]) assert.ok(isString(turn.content));
}

/** LLaMA-Factory's sharegpt: `conversations` of human/gpt turns in `from`/`value`, human first, and an optional string `system`. */
function assertShareGpt(row: unknown): void {
  const { conversations, system, ...rest } = row as { conversations: Array<{ from: string; value: string }>; system?: unknown };
  assert.deepEqual(rest, {});
  assert.ok(system === undefined || (isString(system) && system !== ''));
  conversations.forEach((turn, n) => {
    assert.deepEqual(Object.keys(turn), ['from', 'value']);
    assert.equal(turn.from, n % 2 === 0 ? 'human' : 'gpt');
    assert.ok(isString(turn.value));
  });
  assert.equal(conversations.length % 2, 0);
}

describe('trainer views: each golden, in the shape its trainer reads', () => {
  let root: string;
  before(async () => {
    root = await fixtureCopy();
  });
  after(() => removeDir(root));

  const run = async (name: string, args: string[]): Promise<{ text: string; stderr: string }> => {
    const out = path.join(root, `${name}.jsonl`);
    const result = await runCli(['sft', '--root', root, '--include-partial', '--out', out, '--quarantine', path.join(root, `${name}-q.jsonl`), ...PINNED, ...args]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await readText(path.join(root, `${name}-q.jsonl`)), await readText(path.join(GOLDEN, 'sft-include-partial.quarantine.jsonl')));
    return { text: await readText(out), stderr: result.stderr };
  };

  test('sharegpt (LLaMA-Factory): the golden, its shape, and the dataset_info.json entry it needs', async () => {
    const { text, stderr } = await run('sft-sharegpt', ['--format', 'sharegpt']);
    assert.equal(text, await readText(path.join(GOLDEN, 'sft-sharegpt.jsonl')));
    const rows = jsonlRows(text);
    rows.forEach(assertShareGpt);
    assert.ok(rows.every((row) => !('system' in (row as object))), 'by default the run metadata stays out of the conversation');
    const entries = JSON.parse(/dataset_info\.json entries .*?: (\{.*\})$/m.exec(stderr)![1]!) as Record<string, { file_name: string; formatting: string; columns: Record<string, string> }>;
    assert.deepEqual(entries, { 'sft-sharegpt': { file_name: 'sft-sharegpt.jsonl', formatting: 'sharegpt', columns: { messages: 'conversations' } } });
    const withSystem = await run('sft-sharegpt-system', ['--format', 'sharegpt', '--system-prompt', SYSTEM_PROMPT]);
    const systemRows = jsonlRows(withSystem.text);
    systemRows.forEach(assertShareGpt);
    assert.ok(systemRows.every((row) => (row as { system: string }).system === SYSTEM_PROMPT));
    assert.match(withSystem.stderr, /"columns":\{"messages":"conversations","system":"system"\}/);
  });

  test('alpaca (LLaMA-Factory) keeps its golden bytes and gets its dataset_info.json entry', async () => {
    const { text, stderr } = await run('sft-alpaca', ['--format', 'alpaca']);
    assert.equal(text, await readText(path.join(GOLDEN, 'sft-alpaca.jsonl')));
    for (const row of jsonlRows(text)) assert.deepEqual(Object.keys(row as object), ['instruction', 'input', 'output']);
    assert.match(stderr, /"sft-alpaca":\{"file_name":"sft-alpaca\.jsonl","formatting":"alpaca","columns":\{"prompt":"instruction","query":"input","response":"output"\}\}/);
  });

  test('conversational prompt-completion (TRL): the golden and its shape', async () => {
    const { text } = await run('sft-conversational', ['--format', 'conversational-prompt-completion']);
    assert.equal(text, await readText(path.join(GOLDEN, 'sft-conversational-prompt-completion.jsonl')));
    jsonlRows(text).forEach(assertTrlConversational);
  });

  test('messages (OpenAI chat fine-tuning): today’s golden by default, and --context user with --system-prompt', async () => {
    const plain = await run('sft-messages', ['--format', 'messages']);
    assert.equal(plain.text, await readText(path.join(GOLDEN, 'sft-messages.jsonl')));
    jsonlRows(plain.text).forEach(assertOpenAiChat);
    const placed = await run('sft-messages-system-prompt', ['--format', 'messages', '--context', 'user', '--system-prompt', SYSTEM_PROMPT]);
    assert.equal(placed.text, await readText(path.join(GOLDEN, 'sft-messages-system-prompt.jsonl')));
    const rows = jsonlRows(placed.text) as Array<{ messages: Turn[] }>;
    rows.forEach(assertOpenAiChat);
    assert.ok(rows.every((row) => row.messages[0]!.content === SYSTEM_PROMPT));
    assert.ok(rows.some((row) => row.messages[1]!.content.endsWith('\n\nmodel=mini')), 'the context follows the instruction in the user turn');
    const none = await run('sft-messages-none', ['--format', 'messages', '--context', 'none']);
    const bare = jsonlRows(none.text) as Array<{ messages: Turn[] }>;
    bare.forEach(assertOpenAiChat);
    assert.ok(bare.every((row) => row.messages.length === 2 && !row.messages.some((turn) => turn.content.includes('model=mini'))));
  });

  test('the views that write no turns keep their golden bytes and refuse --context and --system-prompt', async () => {
    for (const format of ['spec', 'prompt-completion']) {
      const result = await runCli(['sft', '--root', root, '--format', format, '--system-prompt', 'x', ...PINNED]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`not --format ${format}`));
    }
    const { text } = await run('sft-prompt-completion', ['--format', 'prompt-completion']);
    assert.equal(text, await readText(path.join(GOLDEN, 'sft-prompt-completion.jsonl')));
  });
});
