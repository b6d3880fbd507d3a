/**
 * distill-stream as a library: one typed function per command (the CLI is a thin layer over
 * them), the stage registry and engine they run on, the composable streams, and the pure
 * per-record functions (gates, scorer, synthesis) that can be unit-tested and benchmarked alone.
 */
export * from './records.js';
export * from './receipts.js';
export { DistillError, EXIT_CODE, type DistillErrorCode } from './errors.js';
export { canonicalHash, canonicalJson, sha256Hex } from './core/canonical.js';
export { shortId } from './core/ids.js';
export { cutCodePoints, firstNonBlankLine, isBlank } from './core/text.js';
export { isIsoTimestamp } from './timestamp.js';
export { stemOf } from './core/stem.js';
export { Rejection } from './core/rejection.js';
export { admitScoredRun, ragFirewall, sftFirewall, SFT_FORBIDDEN_CATEGORIES } from './core/gates.js';
export { contextFor, instructionFor, INSTRUCTABLE_ROLES, sftSynthesisCheck, sourceFileCheck } from './core/synthesis.js';
export { scoreEvidence, toScoredRun, SCORER_VERSION, type Score } from './core/scorer.js';
export { builtinRuleset, compileRuleset, scoreWith, type InstructionEvidence, type Ruleset, type RulesSource, type Scorable, type Scorer } from './core/ruleset.js';
export { explainRow, explainScore, formatExplanation, type ConditionTrace, type Decider, type Explanation, type StepTrace } from './core/explain.js';
export { checkRulesText, rulesDocumentProblems, type RuleSpec, type RulesDocument, type RulesFileProblem, type RulesProblem } from './core/rules-document.js';
export { builtinRulesetText } from './rules/builtin.js';
export { checkRulesFile, formatRulesProblem, loadRuleset, MAX_RULES_FILE_BYTES, type RulesCheck } from './io/rules-file.js';
export { toEvidenceRecord } from './core/evidence.js';
export { SmallestHashSample } from './core/sample.js';
export { validators } from './schemas/validators.js';
export { LineSplitter, DEFAULT_MAX_LINE_BYTES, type RawLine } from './io/line-splitter.js';
export { openLines, type InputSource } from './io/line-source.js';
export { readLineBatches, resolveInputs, type LineBatch } from './io/inputs.js';
export { EvidenceIndex, type IndexReport } from './io/evidence-index.js';
export { openSink, type OutputTarget } from './io/sink.js';
export { StageCounts, PairCounts } from './engine/counts.js';
export { keep, type Kept, type RowFunction } from './engine/row.js';
export { RowStage, FanOutStage, routeBatch } from './engine/row-stage.js';
export { QuarantineWriter } from './engine/quarantine.js';
export type { DatasetStage, PairStage, TreeStage, StageDefinition } from './engine/stage.js';
export { STAGES, EXPORT_STAGES, stageNamed } from './stages/registry.js';
export { sftRow, buildSftSample, serializeSftSample, sftStage, type SftOptions } from './stages/sft.js';
export { ragRow, buildRagSample, serializeRagSample, ragTags, ragStage, type RagOptions } from './stages/rag.js';
export { preferenceStage, PreferencePairer } from './stages/preference.js';
export { scoreRow, scoreStage } from './stages/score.js';
export { collectRow, collectStage } from './stages/collect.js';
export { LAYOUT } from './layout.js';
export {
  runStage,
  runSft,
  runRag,
  runPreference,
  runCollect,
  runScore,
  type StageCommandOptions,
  type StageResult,
  type SftCommandOptions,
  type RagCommandOptions,
  type PreferenceCommandOptions,
  type CollectCommandOptions,
} from '../pipelines/stage.js';
export type { CommonOptions } from '../pipelines/plan.js';
export { planShards, runPlanShard, runShardOf, type PlanOptions } from '../pipelines/cluster.js';
export { planRunAll, runRunAllShard, mergeRunAllPhase, readAnyPlan, isRunAllPlan, type RunAllPlan, type PinnedRunAllOptions, type Phase, type RunAllShardOutcome, type RunAllMergeOutcome } from '../pipelines/run-all-plan.js';
export { readPlan, readPlanFile, runShard, shardReports, missingShards, arrayExpression, SHARDABLE, type ShardPlan, type ShardRunContext } from '../pipelines/shards.js';
export { mergePlan, planOptionsOf, shardContextOf, type MergeResult } from '../pipelines/stage.js';
export { runExportAll, type ExportAllOptions, type ExportAllResult } from '../pipelines/export-all.js';
export { runAll, type RunAllOptions, type RunAllResult, type StageRecord } from '../pipelines/run-all.js';
export { readRunSummary, checkHealth, type HealthCheck } from '../pipelines/inspect.js';
export { listRuns, readRunFolder, mismatchLine, type RunListing, type RunFolder, type RunState, type ReceiptFile } from '../pipelines/runs.js';
export { verifyRun, verifyDataset, LISTED_ROW_PROBLEMS, type VerifyRunOptions, type VerifyDatasetOptions, type VerifyResult } from '../pipelines/verify.js';
export { writtenRows, quarantineRows, type WrittenRows, type RowAudit, type RowProblem } from './engine/written.js';
export { buildIndex, withEvidence } from '../pipelines/evidence.js';
export { main } from './cli/main.js';
export { escapeHtml } from './report/page/html.js';
export { renderReportHtml } from './report/page/render.js';
export { loadReportData, BASELINE_HISTORY_LIMIT, QUARANTINE_EXAMPLES_PER_REASON, type LoadReportOptions, type RunSelector } from './report/page/load.js';
export { writeRunReport, REPORT_FILE, type WriteReportOptions, type WrittenReport } from './report/page/write.js';
export type { ReportData, ShardReport, QuarantineSample, QuarantineExample, BaselineHistory } from './report/page/types.js';
export * from './vectors/index.js';
