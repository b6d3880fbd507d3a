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

/** A stage's quarantine file, relative to the root. */
export const quarantineFile = (stage: StageName): string => `exports/quarantine/${stage}.jsonl`;

export const quarantinePath = (root: string, stage: StageName): string => path.join(root, quarantineFile(stage));
