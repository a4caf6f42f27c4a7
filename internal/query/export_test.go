package query

// End exposes Follower.end to the tests: where the array opening at start
// ends, if the Follower delimited it.
func (f *Follower) End(start int) (int, bool) { return f.end(start) }
