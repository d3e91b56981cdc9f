package segment

// SetMinPerWorker lowers the parallel evaluation threshold so small test
// batches take the multi-worker path too; it returns the restore.
func SetMinPerWorker(n int) func() {
	old := minPerWorker
	minPerWorker = n
	return func() { minPerWorker = old }
}
