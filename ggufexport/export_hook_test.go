package ggufexport

// SetExportUnitBytes sets the executor's work-unit size for a test.
func SetExportUnitBytes(o *ExportOptions, n int64) { o.unitBytes = n }

// The planner and its result, for the external tests.
type ExportPlan = exportPlan

var PlanExport = planExport

// SummaryPlan returns the plan an ExportSummary holds.
func SummaryPlan(s *ExportSummary) *ExportPlan { return s.plan }
