import path from 'node:path';
import type { StageName } from './records.js';

/** The standard project layout under --root (SPEC header and §4). */
export const LAYOUT = {
  kb: 'data/_kb',
  evidence: 'data/evidence',
  scoredRuns: 'data/scored-runs',
  sft: 'exports/sft/instruction_response.jsonl',
  rag: 'exports/rag/playbooks.jsonl',
  preference: 'exports/preference/chosen_rejected.jsonl',
  reports: 'reports/distillation',
} as const;

export const quarantinePath = (root: string, stage: StageName): string => path.join(root, 'exports', 'quarantine', `${stage}.jsonl`);
