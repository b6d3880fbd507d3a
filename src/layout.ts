import path from 'node:path';
import type { StageName } from './records.js';

/** The standard project layout under --root (docs/layout.md). */
export const LAYOUT = {
  kb: 'data/_kb',
  evidence: 'data/evidence',
  scoredRuns: 'data/scored-runs',
  sft: 'exports/sft/instruction_response.jsonl',
  rag: 'exports/rag/playbooks.jsonl',
  preference: 'exports/preference/chosen_rejected.jsonl',
  reports: 'reports/distillation',
} as const;

/** The layout folder each kind of stage input lives in. */
export const LAYOUT_INPUT = { kb: LAYOUT.kb, evidence: LAYOUT.evidence, 'scored-runs': LAYOUT.scoredRuns } as const;

/** The lock a command writing the standard layout holds for its whole run, at the top of the root. */
export const ROOT_LOCK = '.distill-stream.lock';

/** A stage's quarantine file, relative to the root. */
export const quarantineFile = (stage: StageName): string => `exports/quarantine/${stage}.jsonl`;

export const quarantinePath = (root: string, stage: StageName): string => path.join(root, quarantineFile(stage));

/**
 * A run id names one folder under reports/distillation: one path segment that cannot climb out or
 * hide — no `/` or backslash, no control character, not starting with `.`, 1 to 200 characters.
 */
export const isRunId = (runId: string): boolean => runId.length >= 1 && runId.length <= 200 && !runId.startsWith('.') && !/[/\\\u0000-\u001f\u007f]/.test(runId);

/** How a bad run id is explained. */
export const RUN_ID_RULE = 'one folder name: no / or \\, no control characters, not starting with a dot, at most 200 characters';
