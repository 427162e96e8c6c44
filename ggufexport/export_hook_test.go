package ggufexport

// SetExportUnitBytes sets the executor's work-unit size for a test.
func SetExportUnitBytes(o *ExportOptions, n int64) { o.unitBytes = n }
