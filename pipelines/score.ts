import path from 'node:path';
import { AtomicTree } from '../src/io/atomic-tree.js';
import { singleInput } from '../src/io/inputs.js';
import type { InputSource } from '../src/io/line-source.js';
import { displayPath } from '../src/io/paths.js';
import type { OutputTarget } from '../src/io/sink.js';
import { walkInputFiles } from '../src/io/walk.js';
import { LAYOUT } from '../src/layout.js';
import { joinLines, RowStage } from '../src/stages/row-stage.js';
import { scoreRow } from '../src/stages/score.js';
import { StageStats } from '../src/stages/stats.js';
import { runRowStage, streamRows, withOutput, withQuarantine } from './row-export.js';

export interface ScoreRun {
  root: string;
  quarantine: OutputTarget;
  recordedAt: string;
  maxLineBytes: number;
  onBytes?: (bytes: number) => void;
}

/**
 * score on the standard layout: every evidence file gives a scored file at the same relative path
 * under `data/scored-runs` (even an empty one), the tree rebuilt atomically.
 */
export async function runScore(run: ScoreRun): Promise<StageStats> {
  const stats = new StageStats();
  const evidenceRoot = path.join(run.root, LAYOUT.evidence);
  const tree = await AtomicTree.create(path.join(run.root, LAYOUT.scoredRuns), LAYOUT.scoredRuns);
  try {
    await withQuarantine(run.quarantine, stats, 'score', run.recordedAt, async (quarantine) => {
      const row = scoreRow(run.recordedAt, stats);
      for await (const file of walkInputFiles(evidenceRoot)) {
        const relative = displayPath(evidenceRoot, file.absolute);
        const target: OutputTarget = { kind: 'file', path: tree.pathOf(relative), display: `${LAYOUT.scoredRuns}/${relative}` };
        const source: InputSource = { display: displayPath(run.root, file.absolute), absolute: file.absolute };
        await withOutput(target, stats, (output) =>
          streamRows(singleInput(source), new RowStage(row, quarantine, stats, joinLines), output, { maxLineBytes: run.maxLineBytes, stats, onBytes: run.onBytes }),
        );
      }
    });
    await tree.commit();
  } catch (error) {
    await tree.abort();
    throw error;
  }
  return stats;
}

/** score as a filter: evidence lines in, scored lines out. */
export function runScoreFilter(run: ScoreRun & { inputs: AsyncIterable<InputSource>; output: OutputTarget }): Promise<StageStats> {
  return runRowStage({ ...run, stage: 'score' }, (stats) => scoreRow(run.recordedAt, stats));
}
