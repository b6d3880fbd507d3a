/**
 * The raw `_kb` rows of the committed fixture archive, one list per source file. Each row is an
 * object (written with JSON.stringify) or a literal line (for rows JSON.stringify cannot produce:
 * malformed JSON, lone-surrogate escapes). Together they exercise every scorer rule, every gate and
 * every quarantine reason; the comment on each row says which.
 */
export type KbRow = Record<string, unknown> | { literal: string };

const day1 = '2026-05-01T09:00:00Z';
const day2 = '2026-05-02T10:15:30.250Z';

export const KB_SOURCES: ReadonlyArray<[source: string, rows: KbRow[]]> = [
  [
    'scrum_reviews',
    [
      // accepted, instructable, full context: matrix, pathway fingerprints, model
      {
        run_id: 'scrum-001', task_id: 'repo:src/app.ts', model_role: 'executor', model_name: 'gpt-omni',
        text: '## Forensic audit of app.ts\nFinding: unchecked input — sévérité élevée ✓\nPatch: validate before use.',
        source_files: ['src/app.ts', 'src/util.ts'], retrieved_context: { matrix_corpora: ['prd', 'change-proposal'], pathway_fingerprints_seen: 3, extra: 'dropped' },
        signals: { accepted_on_attempt: 1 }, created_at: day1, reviewer_notes: 'unknown field: dropped, still hashed',
      },
      // partially_accepted (attempt 2 of 3); created_at with an offset lands on the next UTC day; title skips blank lines
      {
        run_id: 'scrum-002', task_id: 'repo:src/db.ts', model_role: 'reviewer',
        text: '\n  \t\r\nFirst real line of the review\r\nsecond line', source_files: ['src/db.ts'],
        signals: { accepted_on_attempt: 2, max_attempts: 3 }, created_at: '2026-05-01T23:30:00-02:00',
      },
      // rejected: never accepted within max attempts
      { run_id: 'scrum-003', task_id: 'repo:src/db.ts', model_role: 'executor', text: 'A patch that never passed review.', signals: { accepted_on_attempt: null, attempts: 3, max_attempts: 3 }, created_at: day1 },
      // needs_human_review: accepted_on_attempt of the wrong type
      { run_id: 'scrum-004', task_id: 'repo:src/db.ts', model_role: 'executor', text: 'Unclear attempt count.', signals: { accepted_on_attempt: '1' }, created_at: day1 },
      // hallucinated_file_path: absolute path
      { run_id: 'scrum-005', task_id: 'repo:etc', model_role: 'executor', text: 'Reads a system file.', source_files: ['/etc/passwd'], signals: { accepted_on_attempt: 1 }, created_at: day1 },
      // hallucinated_file_path: climbs out with ..
      { run_id: 'scrum-006', task_id: 'repo:secrets', model_role: 'executor', text: 'Escapes the repo.', source_files: ['src/../../secrets.txt'], signals: { accepted_on_attempt: 1 }, created_at: day1 },
      // not_instructable (planner), still fine for RAG
      { run_id: 'scrum-007', task_id: 'repo:plan', model_role: 'planner', text: 'A plan, not a response.', signals: { accepted_on_attempt: 1 }, created_at: day1 },
      // empty_content: blank text
      { run_id: 'scrum-008', task_id: 'repo:blank', model_role: 'executor', text: '  \n\t ', signals: { accepted_on_attempt: 1 }, created_at: day1 },
      // no model_role and no text: both default to "" (not_instructable for SFT, empty_content for RAG)
      { run_id: 'scrum-009', task_id: 'repo:bare', signals: { accepted_on_attempt: 1 }, created_at: day1 },
      // collect: not JSON → schema_violation
      { literal: '{"run_id": "scrum-broken", "task_id": ' },
      // collect: missing created_at → schema_violation
      { run_id: 'scrum-no-date', task_id: 'repo:x', text: 'no timestamp', signals: { accepted_on_attempt: 1 } },
      // collect: run_id taken by an earlier valid row → duplicate_id
      { run_id: 'scrum-001', task_id: 'repo:src/app.ts', model_role: 'executor', text: 'A second row for scrum-001.', signals: { accepted_on_attempt: 1 }, created_at: day1 },
      // preference: same task, identical texts → invalid_preference_pairing
      { run_id: 'scrum-010', task_id: 'repo:twins', model_role: 'executor', text: 'Identical answer.', signals: { accepted_on_attempt: 1 }, created_at: day2 },
      { run_id: 'scrum-011', task_id: 'repo:twins', model_role: 'executor', text: 'Identical answer.', signals: { accepted_on_attempt: null, attempts: 4, max_attempts: 3 }, created_at: day2 },
      // collect: wrong type (null) for an optional field → schema_violation
      { run_id: 'scrum-null-role', task_id: 'repo:x', model_role: null, created_at: day1 },
    ],
  ],
  [
    'observer_reviews',
    [
      // accepted; astral and U+2028 characters in the text
      { run_id: 'obs-001', task_id: 'obs:login', model_role: 'reviewer', text: 'Verdict: accept 😀\u2028Login flow is sound.', source_files: ['src/login.ts'], signals: { verdict: 'accept' }, created_at: day1 },
      { run_id: 'obs-002', task_id: 'obs:login', model_role: 'reviewer', text: 'Verdict: cycle — needs one more pass.', source_files: ['src/login.ts'], signals: { verdict: 'cycle' }, created_at: day1 },
      { run_id: 'obs-003', task_id: 'obs:login', model_role: 'reviewer', text: 'Verdict: reject — breaks sessions.', source_files: ['src/login.ts'], signals: { verdict: 'reject' }, created_at: day1 },
      // needs_human_review: unknown verdict
      { run_id: 'obs-004', task_id: 'obs:login', model_role: 'reviewer', text: 'Verdict: maybe.', signals: { verdict: 'maybe' }, created_at: day1 },
      // a lone surrogate escape survives collect, the index and the export byte for byte
      { literal: '{"run_id":"obs-005","task_id":"obs:signup","model_role":"reviewer","text":"broken pair \\ud800 kept","signals":{"verdict":"accept"},"created_at":"2026-05-02T08:00:00+00:00"}' },
    ],
  ],
  [
    'audits',
    [
      { run_id: 'aud-001', task_id: 'phase:design', model_role: 'reviewer', text: 'No findings.', signals: { max_severity: 'none' }, created_at: day1 },
      { run_id: 'aud-002', task_id: 'phase:design', model_role: 'reviewer', text: 'Critical finding in auth.', signals: { max_severity: 'high' }, created_at: day1 },
      // legacy rule: max_severity absent, passed true
      { run_id: 'aud-003', task_id: 'phase:build', model_role: 'reviewer', model_name: 'claude-opus', text: 'Legacy pass.', signals: { passed: true }, created_at: day2 },
      // wrong type → needs_human_review
      { run_id: 'aud-004', task_id: 'phase:build', model_role: 'reviewer', text: 'Severity as a number.', signals: { max_severity: 5 }, created_at: day2 },
    ],
  ],
  [
    'auto_apply',
    [
      { run_id: 'ap-001', task_id: 'patch:src/patch.ts', model_role: 'applier', text: '--- a/src/patch.ts\n+++ b/src/patch.ts\n@@ fix @@', source_files: ['src/patch.ts'], signals: { apply_status: 'applied', tests_passed: true }, created_at: day1 },
      { run_id: 'ap-002', task_id: 'patch:src/patch.ts', model_role: 'applier', text: 'Applied, tests red.', source_files: ['src/patch.ts'], signals: { apply_status: 'applied', tests_passed: false }, created_at: day1 },
      { run_id: 'ap-003', task_id: 'patch:src/patch.ts', model_role: 'applier', text: 'Reverted.', signals: { apply_status: 'reverted' }, created_at: day1 },
    ],
  ],
  [
    'contract_analyses',
    [
      { run_id: 'ca-001', task_id: 'permit:P-100', model_role: 'executor', text: 'Recommend approval; late filings noted.', metadata: { contractor: 'Acme Ltd', '10': 'integer-like key', '2': 'sorts first' }, signals: { recommendation: 'approve', risk_markers: ['late_filing'] }, created_at: day1 },
      // empty contractor → the permit-only instruction
      { run_id: 'ca-002', task_id: 'permit:P-101', model_role: 'executor', text: 'Recommend denial.', metadata: { contractor: '' }, signals: { recommendation: 'deny', risk_markers: [] }, created_at: day1 },
      // no signals object → needs_human_review [signals_missing]
      { run_id: 'ca-003', task_id: 'permit:P-102', model_role: 'executor', text: 'No signals recorded.', created_at: day1 },
    ],
  ],
  [
    'outcomes',
    [
      { run_id: 'out-001', task_id: 'scenario:flood:v2', model_role: 'executor', text: 'Event 1: evacuated [1][2].', signals: { outcome: 'success', citations: 2 }, created_at: day1 },
      { run_id: 'out-002', task_id: 'scenario:flood:v2', model_role: 'executor', text: 'Event 1: evacuated.', signals: { outcome: 'success', citations: 0 }, created_at: day1 },
      { run_id: 'out-003', task_id: 'scenario:flood:v2', model_role: 'executor', text: 'Event 1: missed.', signals: { outcome: 'failure' }, created_at: day1 },
      // long text: the RAG title (120) and embedding_text (2000) cuts land on a surrogate pair, kept whole
      {
        run_id: 'out-005', task_id: 'scenario:long', model_role: 'executor',
        text: `${'Ω'.repeat(119)}😀 rest of the first line\n${'😀'.repeat(1990)}${'é'.repeat(500)}`,
        signals: { outcome: 'partial' }, created_at: day2,
      },
      // citations 1.0 counts as the integer 1
      { run_id: 'out-004', task_id: 'scenario:fire', model_role: 'executor', text: 'Event 2: contained [3].', signals: { outcome: 'success', citations: 1.0 }, created_at: day2 },
    ],
  ],
  [
    'mode_experiments',
    [
      // exactly 0.9 → accepted; exactly 0.6 → partially_accepted
      { run_id: 'mode-001', task_id: 'retrieval', model_role: 'executor', model_name: 'mini', text: 'Grounded answer.', source_files: ['eval/retrieval.yaml'], signals: { grounded_fraction: 0.9 }, created_at: day1 },
      { run_id: 'mode-002', task_id: 'retrieval', model_role: 'executor', text: 'Half grounded.', signals: { grounded_fraction: 0.6 }, created_at: day1 },
      // rejected ones: one task with more rejections than the cap of 5 pairs
      { run_id: 'mode-003', task_id: 'retrieval', model_role: 'executor', text: 'Ungrounded 1.', signals: { grounded_fraction: 0.5999999 }, created_at: day1 },
      { run_id: 'mode-004', task_id: 'retrieval', model_role: 'executor', text: 'Ungrounded 2.', signals: { grounded_fraction: 0.5 }, created_at: day1 },
      { run_id: 'mode-005', task_id: 'retrieval', model_role: 'executor', text: 'Ungrounded 3.', signals: { grounded_fraction: 0.4 }, created_at: day1 },
      { run_id: 'mode-006', task_id: 'retrieval', model_role: 'executor', text: 'Ungrounded 4.', signals: { grounded_fraction: 0.3 }, created_at: day2 },
      { run_id: 'mode-007', task_id: 'retrieval', model_role: 'executor', text: 'Ungrounded 5.', signals: { grounded_fraction: 0.2 }, created_at: day2 },
      // wrong type → needs_human_review
      { run_id: 'mode-008', task_id: 'retrieval', model_role: 'executor', text: 'Fraction as text.', signals: { grounded_fraction: 'high' }, created_at: day2 },
    ],
  ],
  [
    'web_extractions',
    [
      // extraction class: always needs_human_review [extraction_class_no_verdict]
      { run_id: 'ext-001', task_id: 'crawl:docs', model_role: 'executor', text: 'Extracted table of contents.', created_at: day2 },
    ],
  ],
];
