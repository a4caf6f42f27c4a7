package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/allma/ddb-query-to-s3-manifest/internal/config"
	"github.com/allma/ddb-query-to-s3-manifest/internal/keyrange"
	"github.com/allma/ddb-query-to-s3-manifest/internal/lines"
	"github.com/allma/ddb-query-to-s3-manifest/internal/upload"
)

// A resumable export split into key ranges hands on every range: its
// interval, where its reader goes on from, and its segment's upload,
// suspended like the manifest's (the tail in a side object). A segment is
// completed only once every range is done, by the invocation that
// assembles the manifest, so that a retry of a continuation never finds a
// segment with more in it than the continuation says. The head range's
// position is the pipeline's (the last page the encoder wrote).

// rangesState is resume.Token.Ranges.
type rangesState struct {
	Hash  string          `json:"h"`
	Sort  string          `json:"s"`
	Asc   bool            `json:"a"`
	Ends  json.RawMessage `json:"e"` // {"a": ..., "b": ...} in DynamoDB JSON
	Next  int             `json:"n"` // the next span id
	Spans []spanState     `json:"r"` // in the manifest's order; the first is the head
}

type spanState struct {
	ID     int             `json:"i"`
	Bounds json.RawMessage `json:"b"`           // {"lo": ..., "hi": ...}
	Pos    json.RawMessage `json:"p,omitempty"` // nil: from its start (or done)
	Done   bool            `json:"d,omitempty"`
	Items  int64           `json:"n,omitempty"` // lines in its segment
	Upload json.RawMessage `json:"u,omitempty"` // its segment's suspended upload.State
	// Object is its segment, completed but not yet appended.
	Object *upload.Object `json:"o,omitempty"`
}

func pair(k1 string, v1 types.AttributeValue, k2 string, v2 types.AttributeValue) (json.RawMessage, error) {
	return lines.AppendDynamoJSON(nil, map[string]types.AttributeValue{k1: v1, k2: v2})
}

// state returns the ranges' place for a continuation; the readers have
// ended and the segments are suspended. head is the head span's position
// as written (nil: done, or from its start when headDone is false).
func (rs *ranges) state(headPos map[string]types.AttributeValue, headDone bool) (json.RawMessage, error) {
	st := rangesState{Hash: rs.l.hash, Sort: rs.l.sortKey, Asc: rs.l.asc, Next: rs.nextID}
	var err error
	if st.Ends, err = pair("a", rs.l.a, "b", rs.l.b); err != nil {
		return nil, err
	}
	for i, s := range rs.order {
		ss := spanState{ID: s.id, Done: s.done}
		if ss.Bounds, err = pair("lo", s.lo, "hi", s.hi); err != nil {
			return nil, err
		}
		pos := s.pos
		if i == 0 {
			pos, ss.Done = headPos, headDone
		}
		if len(pos) > 0 && !ss.Done {
			if ss.Pos, err = lines.AppendDynamoJSON(nil, pos); err != nil {
				return nil, err
			}
		}
		if g := s.seg; g != nil {
			ss.Items = g.n
			ss.Object = g.obj
			if g.st != nil {
				if ss.Upload, err = json.Marshal(g.st); err != nil {
					return nil, err
				}
			}
		}
		st.Spans = append(st.Spans, ss)
	}
	return json.Marshal(st)
}

// restoreRanges rebuilds the ranges a continuation holds.
func (p *pipeline) restoreRanges(b json.RawMessage) (*ranges, error) {
	var st rangesState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%w: its key ranges: %v", ErrBadContinuation, err)
	}
	q := &p.cfg.Query
	cond, err := keyrange.ParseCondition(q.KeyConditionExpression, q.ExpressionAttributeNames, st.Hash, st.Sort)
	if err != nil || len(st.Spans) == 0 {
		return nil, fmt.Errorf("%w: its key ranges do not fit the key condition: %v", ErrBadContinuation, err)
	}
	ends, err := positionKey(st.Ends)
	if err != nil {
		return nil, fmt.Errorf("%w: its key ranges: %v", ErrBadContinuation, err)
	}
	l := &layout{cond: cond, hash: st.Hash, sortKey: st.Sort, asc: st.Asc, a: ends["a"], b: ends["b"]}
	rs, err := p.newRanges(l)
	if err != nil {
		return nil, err
	}
	rs.nextID, rs.fromID = st.Next, st.Next
	rs.pages.Store(0) // the pipeline counts earlier invocations' pages
	for _, ss := range st.Spans {
		bounds, err := positionKey(ss.Bounds)
		if err != nil {
			return nil, fmt.Errorf("%w: its key ranges: %v", ErrBadContinuation, err)
		}
		s := &span{id: ss.ID, lo: bounds["lo"], hi: bounds["hi"], done: ss.Done, fromOpen: !ss.Done && len(rs.order) > 0}
		if len(ss.Pos) > 0 {
			if s.pos, err = positionKey(ss.Pos); err != nil {
				return nil, fmt.Errorf("%w: its key ranges: %v", ErrBadContinuation, err)
			}
			s.at = s.pos[l.sortKey]
		}
		if len(rs.order) > 0 {
			s.seg = rs.newSegment(s)
			s.seg.n, s.seg.obj = ss.Items, ss.Object
			if ss.Object != nil {
				rs.bytes.Add(ss.Object.Size)
				rs.restoredBytes += ss.Object.Size
			}
			if len(ss.Upload) > 0 {
				var us upload.State
				if err := json.Unmarshal(ss.Upload, &us); err != nil {
					return nil, fmt.Errorf("%w: a segment's upload state: %v", ErrBadContinuation, err)
				}
				s.seg.st = &us
				rs.bytes.Add(us.Size)
				rs.restoredBytes += us.Size
			}
			rs.items.Add(ss.Items)
		}
		rs.order = append(rs.order, s)
	}
	return rs, nil
}

// cancelSegments aborts the segment uploads a continuation names and
// deletes every segment object of the export.
func cancelSegments(ctx context.Context, s3c S3, cfg *config.Config, exportID string, b json.RawMessage) error {
	var errs []error
	if len(b) > 0 {
		var st rangesState
		if err := json.Unmarshal(b, &st); err != nil {
			return fmt.Errorf("%w: its key ranges: %v", ErrBadContinuation, err)
		}
		for _, ss := range st.Spans {
			if len(ss.Upload) == 0 {
				continue
			}
			var us upload.State
			if err := json.Unmarshal(ss.Upload, &us); err != nil {
				return fmt.Errorf("%w: a segment's upload state: %v", ErrBadContinuation, err)
			}
			if err := upload.Cancel(ctx, s3c, segmentTarget(cfg, exportID, ss.ID), us); err != nil {
				errs = append(errs, err)
			}
		}
	}
	d := &cfg.Destination
	if _, left := deletePrefix(ctx, s3c, d, d.BucketName, sidePrefix(d, exportID)+"seg."); left > 0 {
		errs = append(errs, fmt.Errorf("%d segment objects under s3://%s/%s could not be deleted", left, d.BucketName, sidePrefix(d, exportID)+"seg."))
	}
	return errors.Join(errs...)
}
