package ddbrange

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// Server is a DynamoDB endpoint on 127.0.0.1 serving Tables: Query and
// DescribeTable. Its methods are safe for concurrent use; Close stops it.
type Server struct {
	srv    *httptest.Server
	delay  time.Duration
	mu     sync.Mutex
	tables map[string]*Table
}

// NewServer starts a Server that answers no sooner than delay after it has
// read a request whole.
func NewServer(delay time.Duration) *Server {
	s := &Server{delay: delay, tables: map[string]*Table{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the endpoint's base URL.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// AddTable serves p with o as table name and returns that Table.
func (s *Server) AddTable(name string, p *Partition, o Options) *Table {
	t := NewTable(p, o)
	s.mu.Lock()
	s.tables[name] = t
	s.mu.Unlock()
	return t
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	readAt := time.Now()
	var req struct{ TableName string }
	if err := json.Unmarshal(body, &req); err != nil {
		WriteError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	s.mu.Lock()
	t := s.tables[req.TableName]
	s.mu.Unlock()
	if t == nil {
		WriteError(w, http.StatusBadRequest, "ResourceNotFoundException", "Requested resource not found: Table: "+req.TableName+" not found")
		return
	}
	switch target := r.Header.Get("X-Amz-Target"); target {
	case "DynamoDB_20120810.Query":
		t.ServeQuery(w, body, readAt, s.delay)
	case "DynamoDB_20120810.DescribeTable":
		time.Sleep(time.Until(readAt.Add(s.delay)))
		WriteBody(w, Describe(req.TableName, t))
	default:
		WriteError(w, http.StatusBadRequest, "UnknownOperationException", "the fake serves Query and DescribeTable only, got "+target)
	}
}
