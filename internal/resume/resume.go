// Package resume owns the continuation of a resumable export: what one
// invocation hands the next (the export's identity, the upload's state, the
// Query's position and the counts so far), its encoding as an opaque token
// under 4 KiB, and its binding to the rendered config.
//
// A token holds only what S3 does not know: the parts already uploaded
// (and their ETags) are read back from S3 by the writer. When a state does
// not fit in a token (long keys), the caller keeps it in an object and the
// token names that object (Token.StateKey).
package resume

import (
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxTokenBytes is the most a token may take: Step Functions and the
// orchestrator carry it in every iteration's state.
const MaxTokenBytes = 4096

// prefix marks a token of this version.
const prefix = "c1."

// Token is where a resumable export stands between two invocations.
type Token struct {
	Export string `json:"e"` // the export's id: the first invocation's run id
	Config string `json:"c"` // Digest of the rendered config it is bound to
	Seq    int    `json:"s"` // invocations that have handed it on so far
	// Upload is the writer's state: the multipart upload, the parts done,
	// the unflushed tail's side object.
	Upload json.RawMessage `json:"u,omitempty"`
	// Key is the ExclusiveStartKey of the next page, in DynamoDB JSON; nil
	// when the query has no page left.
	Key json.RawMessage `json:"k,omitempty"`
	// Ranges, when the query was split into key ranges, is each range's
	// place (its interval, its position, its segment's upload), in the
	// export's own encoding.
	Ranges    json.RawMessage `json:"r,omitempty"`
	Items     int64           `json:"i"`           // lines written
	Offloaded int64           `json:"o,omitempty"` // of them, items offloaded
	Pages     int             `json:"p"`           // pages read
	// StateKey, when set, names the object holding the whole Token (its
	// other fields but Export and Config are then empty).
	StateKey string `json:"x,omitempty"`
}

// ErrTooLarge is returned by Encode when the token would take more than
// MaxTokenBytes: keep the state in an object and hand on a token that
// names it.
var ErrTooLarge = errors.New("continuation state too large for a token")

// Encode returns t as an opaque token: a version prefix and the JSON
// state, deflated, in unpadded base64url (safe in JSON, URLs and shells).
func (t *Token) Encode() (string, error) {
	b, err := t.Marshal()
	if err != nil {
		return "", err
	}
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression) // the level is valid
	_, _ = w.Write(b)                                  // a bytes.Buffer does not fail
	_ = w.Close()
	s := prefix + base64.RawURLEncoding.EncodeToString(z.Bytes())
	if len(s) > MaxTokenBytes {
		return "", fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, len(s), MaxTokenBytes)
	}
	return s, nil
}

// Marshal returns t as JSON, as it is kept in a state object.
func (t *Token) Marshal() ([]byte, error) { return json.Marshal(t) }

// Decode reads a token Encode made. The error says what is wrong with it
// without repeating it.
func Decode(s string) (*Token, error) {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return nil, errors.New("not a continuation this function made (unknown version)")
	}
	z, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return nil, errors.New("not a continuation this function made (not base64url)")
	}
	b, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), 1<<20))
	if err != nil {
		return nil, errors.New("not a continuation this function made (damaged)")
	}
	return Unmarshal(b)
}

// Unmarshal reads a Token from its JSON, as Marshal wrote it.
func Unmarshal(b []byte) (*Token, error) {
	var t Token
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, errors.New("not a continuation this function made (bad state)")
	}
	if t.Export == "" || t.Config == "" || t.Items < 0 || t.Offloaded < 0 || t.Offloaded > t.Items || t.Pages < 0 || t.Seq < 0 {
		return nil, errors.New("not a continuation this function made (incomplete state)")
	}
	return &t, nil
}

// Digest identifies a rendered config: the SHA-256 of its JSON (object
// keys sorted, numbers as their exact text), in base64url. Two configs
// with the same digest make the same export.
func Digest(rendered map[string]any) (string, error) {
	b, err := json.Marshal(rendered)
	if err != nil {
		return "", fmt.Errorf("config digest: %w", err)
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:18]), nil
}
