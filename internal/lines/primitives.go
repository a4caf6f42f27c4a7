package lines

// The Encoder's primitives as the Transcoder calls them: error-typed, with
// dst unchanged on error, and small enough to be inlined, so that escaping
// and number normalisation stay in one place at no cost.

// appendStringErr is appendString, as an error; dst is returned unchanged
// on error.
func appendStringErr(dst []byte, s string) ([]byte, error) {
	out, err := appendString(dst, s)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// appendNumberErr is appendNumber, as an error; dst is returned unchanged
// on error.
func (e *Encoder) appendNumberErr(dst []byte, n string) ([]byte, error) {
	dst, err := e.appendNumber(dst, n)
	if err != nil {
		return dst, err
	}
	return dst, nil
}
