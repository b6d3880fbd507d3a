import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { SFT_FORBIDDEN_CATEGORIES, ragFirewall, sftFirewall } from '../src/core/gates.js';
import { contextFor, instructionFor, notPlainPath, ragSynthesisCheck, sftSynthesisCheck, sourceFileCheck } from '../src/core/synthesis.js';
import { repoFileCheck } from '../src/io/repo-files.js';
import { evidence, removeDir, tempDir } from './helpers.js';

test('the SFT firewall set is exactly {rejected, needs_human_review}', () => {
  assert.deepEqual([...SFT_FORBIDDEN_CATEGORIES].sort(), ['needs_human_review', 'rejected']);
});

test('SFT firewall: forbidden categories are unsafe whatever the options; partial needs --include-partial', () => {
  for (const includePartial of [false, true]) {
    const firewall = sftFirewall({ includePartial });
    assert.equal(firewall('rejected')?.reason, 'unsafe_sft_category');
    assert.equal(firewall('needs_human_review')?.reason, 'unsafe_sft_category');
    assert.equal(firewall('accepted'), undefined);
  }
  assert.equal(sftFirewall({ includePartial: false })('partially_accepted')?.reason, 'category_disallowed');
  assert.equal(sftFirewall({ includePartial: true })('partially_accepted'), undefined);
});

test('RAG firewall: rejected is unsafe; review needs --include-review; partial always passes', () => {
  for (const includeReview of [false, true]) {
    const firewall = ragFirewall({ includeReview });
    assert.equal(firewall('rejected')?.reason, 'unsafe_rag_category');
    assert.equal(firewall('partially_accepted'), undefined);
    assert.equal(firewall('accepted'), undefined);
  }
  assert.equal(ragFirewall({ includeReview: false })('needs_human_review')?.reason, 'category_disallowed');
  assert.equal(ragFirewall({ includeReview: true })('needs_human_review'), undefined);
});

const kb = (stem: string): string => `data/_kb/${stem}.jsonl`;

test('the eight instruction templates, values inserted verbatim', () => {
  const files = { source_files: ["src/it's.ts", 'other.ts'] };
  const cases: Array<[Parameters<typeof evidence>[0], string]> = [
    [{ source_file: kb('scrum_reviews'), ...files }, "Review the file 'src/it's.ts' against the PRD + change-proposal context. Produce a forensic audit with findings, severity, confidence, patches."],
    [{ source_file: kb('mode_experiments'), task_id: 'retrieval:v2', ...files }, "Run task_class='retrieval:v2' for file 'src/it's.ts'. Produce the mode-runner's expected output shape."],
    [{ source_file: kb('auto_apply'), ...files }, "Auto-apply: emit a 6-line surgical patch for 'src/it's.ts' based on the latest scrum review findings."],
    [{ source_file: kb('audits'), task_id: 'phase:phase:design' }, "Audit phase 'phase:design' and report findings with severity."],
    [{ source_file: kb('audits'), task_id: 'design' }, "Audit phase 'design' and report findings with severity."],
    [{ source_file: kb('observer_reviews') }, "Observer-review the latest attempt on ''. Verdict: accept | reject | cycle."],
    [{ source_file: kb('contract_analyses'), task_id: 'permit:P-1', contractor: 'Acme' }, "Analyze contractor 'Acme' for permit 'P-1'. Recommend with risk markers."],
    [{ source_file: kb('contract_analyses'), task_id: 'permit:permit:P-1' }, "Analyze permit 'permit:P-1'. Recommend with risk markers."],
    [{ source_file: kb('outcomes') }, 'Run scenario; report per-event outcome with citations.'],
    [{ source_file: kb('web_extractions') }, "Source 'web_extractions' run; produce the appropriate output for this task type."],
    [{ source_file: 'elsewhere/notes.jsonl' }, "Source 'elsewhere/notes' run; produce the appropriate output for this task type."],
    [{ source_file: 'data/_kb/data/_kb/x.jsonl.jsonl' }, "Source 'data/_kb/x.jsonl' run; produce the appropriate output for this task type."],
  ];
  for (const [overrides, expected] of cases) assert.equal(instructionFor(evidence(overrides)), expected);
});

test('context joins matrix, pathway fingerprints and model with " · ", and is empty when none apply', () => {
  assert.equal(contextFor(evidence()), '');
  assert.equal(
    contextFor(evidence({ matrix_corpora: ['prd', 'cp'], pathway_fingerprints_seen: 3, model_name: 'm1' })),
    'matrix=prd,cp \u00b7 pathway_fingerprints=3 \u00b7 model=m1',
  );
  assert.equal(contextFor(evidence({ pathway_fingerprints_seen: 0, model_name: 'm1' })), 'model=m1');
  assert.equal(contextFor(evidence({ matrix_corpora: [''] })), 'matrix=');
});

test('SFT synthesis checks run in the documented order: role, then blank text, then file paths', () => {
  const check = sftSynthesisCheck(sourceFileCheck({ inRepo: undefined }));
  assert.equal(check(evidence({ model_role: 'planner', text: ' ', source_files: ['/abs'] }))?.reason, 'not_instructable');
  assert.equal(check(evidence({ model_role: '' }))?.reason, 'not_instructable');
  assert.equal(check(evidence({ text: ' \n\t\u00a0', source_files: ['/abs'] }))?.reason, 'empty_content');
  assert.equal(check(evidence({ source_files: ['ok.ts', '/abs'] }))?.reason, 'hallucinated_file_path');
  for (const role of ['executor', 'reviewer', 'applier']) assert.equal(check(evidence({ model_role: role })), undefined);
  const rag = ragSynthesisCheck(sourceFileCheck({ inRepo: undefined }));
  assert.equal(rag(evidence({ model_role: 'planner' })), undefined);
  assert.equal(rag(evidence({ model_role: 'planner', text: '' }))?.reason, 'empty_content');
});

test('a plain relative path: each way out is refused as written, and "" names no path', () => {
  const refused = [
    '/etc/passwd',
    '\\\\server\\share',
    '\\Windows',
    '~/.ssh/id_rsa',
    '~root',
    'C:\\Windows',
    'c:relative',
    'file:///etc/passwd',
    'https://example.com/a.ts',
    'git+ssh:repo',
    'a/../b',
    '..',
    'src\\..\\..\\secret',
    'a/..\\b',
    '%2e%2e/secret',
    'a%2Fb',
    'a%5Cb',
    '%2E',
    'a\u0000b',
    'line\nbreak',
    'tab\there',
    'del\u007f',
    ' leading',
    'trailing ',
    'nbsp\u00a0',
    '\ufeffbom',
  ];
  for (const entry of refused) assert.notEqual(notPlainPath(entry), undefined, JSON.stringify(entry));
  const plain = ['', 'src/a.ts', 'a/..b/c', '...', 'b..', 'a/./b', 'dir/file name.ts', '1:2', '-:x', 'a%2', 'snake_case/x.py', 'ünïcode/é.ts'];
  for (const entry of plain) assert.equal(notPlainPath(entry), undefined, JSON.stringify(entry));
});

test('hallucinated paths: any entry that is not plain rejects the row, "" among real paths passes', () => {
  const check = sourceFileCheck({ inRepo: undefined });
  const rejection = (files: string[]) => check(evidence({ source_files: files }));
  assert.equal(rejection(['ok.ts', '/etc/passwd'])?.reason, 'hallucinated_file_path');
  assert.equal(rejection(['/etc/passwd'])?.errors[0], "source file '/etc/passwd' is absolute");
  assert.equal(rejection(['', 'ok.ts']), undefined);
});

test('--repo-root: an entry must exist under the root and its real path stay inside it', async () => {
  const repo = await tempDir();
  const outside = await tempDir();
  try {
    await mkdir(path.join(repo, 'src'));
    await writeFile(path.join(repo, 'src', 'real.ts'), '');
    await writeFile(path.join(outside, 'secret.txt'), '');
    await symlink(outside, path.join(repo, 'escape'));
    await symlink(path.join(repo, 'src', 'real.ts'), path.join(repo, 'alias.ts'));
    const inRepo = sourceFileCheck({ inRepo: repoFileCheck(repo) });
    const reason = (files: string[]) => inRepo(evidence({ source_files: files }))?.reason;
    assert.equal(reason(['src/real.ts', 'alias.ts', 'src', '']), undefined);
    assert.equal(reason(['src/real.ts', 'src/imagined.ts']), 'hallucinated_file_path');
    assert.equal(reason(['escape/secret.txt']), 'hallucinated_file_path');
    assert.equal(reason(['escape']), 'hallucinated_file_path');
    assert.throws(() => repoFileCheck(path.join(repo, 'missing')), /--repo-root .*missing/);
  } finally {
    await removeDir(repo);
    await removeDir(outside);
  }
});
