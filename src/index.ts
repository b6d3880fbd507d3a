/**
 * distill-stream as a library: the stage pipelines (`runSft`, `runCollect`, `runScore`), the
 * composable streams they are made of, the pure per-record functions (gates, scorer,
 * synthesis) that can be unit-tested, benchmarked and sharded on their own, and the rules files
 * that the scorer and the instructions are written in (docs/rules.md).
 */
export * from './records.js';
export { DistillError, type DistillErrorCode } from './errors.js';
export { canonicalHash, canonicalJson, sha256Hex } from './core/canonical.js';
export { shortId } from './core/ids.js';
export { cutCodePoints, firstNonBlankLine, isBlank } from './core/text.js';
export { isIsoTimestamp } from './core/timestamp.js';
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
export { validators } from './schemas/validators.js';
export { LineSplitter, DEFAULT_MAX_LINE_BYTES, type RawLine } from './io/line-splitter.js';
export { openLines, type InputSource } from './io/line-source.js';
export { readLineBatches, resolveInputs, type LineBatch } from './io/inputs.js';
export { EvidenceIndex, type IndexReport, type JoinedEvidence } from './io/evidence-index.js';
export { QuarantineWriter } from './io/quarantine.js';
export { openSink, type OutputTarget } from './io/sink.js';
export { RowStage, type RowFunction } from './stages/row-stage.js';
export { exportRow, type EvidenceLookup, type ExportDefinition } from './stages/export-row.js';
export { sftRow, buildSftSample, serializeSftSample, type SftOptions } from './stages/sft.js';
export { ragRow, buildRagSample, serializeRagSample, ragTags, type RagOptions } from './stages/rag.js';
export { scoreRow } from './stages/score.js';
export { collectRow } from './stages/collect.js';
export { StageStats } from './stages/stats.js';
export { LAYOUT } from './layout.js';
export { runRag, runSft, type ExportRun, type ExportResult } from '../pipelines/export.js';
export { runCollect, runCollectFilter } from '../pipelines/collect.js';
export { runScore, runScoreFilter } from '../pipelines/score.js';
