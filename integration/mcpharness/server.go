// Package mcpharness holds the pieces of the MCP end-to-end tests that are
// not the gateway: an unmodified Model Context Protocol server built with
// the official Go SDK (no authentication of its own) that records what it
// receives, an authorization-code fetcher that plays the user's browser at
// the test OpenID provider, and an HTTP transport that records every
// exchange the SDK client makes.
package mcpharness

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tool names the server exposes.
const (
	ToolEcho       = "echo"        // answers its text argument
	ToolWhoami     = "whoami"      // answers the identity headers it received
	ToolDeployProd = "deploy_prod" // pretends to deploy a service
)

// Call is one tool call as the server saw it.
type Call struct {
	// Tool is the tool name.
	Tool string
	// Header is the HTTP header of the request that carried the call.
	Header http.Header
}

// Server is a running MCP server (Streamable HTTP at /mcp) that records the
// HTTP headers of every request it receives and every tool call it runs.
type Server struct {
	// Addr is host:port, for reverse_proxy.
	Addr string

	mu       sync.Mutex
	requests []http.Header
	calls    []Call
}

// EchoArgs are the arguments of the echo tool.
type EchoArgs struct {
	Text string `json:"text" jsonschema:"the text to echo"`
}

// DeployArgs are the arguments of the deploy_prod tool.
type DeployArgs struct {
	Service string `json:"service" jsonschema:"the service to deploy"`
}

// StartServer starts an MCP server on loopback for the test. It is a plain
// SDK server: mcp.NewServer, mcp.AddTool, mcp.NewStreamableHTTPHandler
// with opts (nil: the defaults, a stateful server that negotiates protocol
// 2025-11-25; Stateless: true also speaks 2026-07-28, whose requests carry
// Mcp-Method and Mcp-Name headers), with no authorization of its own.
func StartServer(t testing.TB, opts *mcp.StreamableHTTPOptions) *Server {
	t.Helper()
	s := &Server{}
	srv := mcp.NewServer(&mcp.Implementation{Name: "portcullis-test-tools", Version: "1.0.0"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: ToolEcho, Description: "Echo the text back."},
		func(_ context.Context, req *mcp.CallToolRequest, in EchoArgs) (*mcp.CallToolResult, any, error) {
			s.record(ToolEcho, req)
			return text(in.Text), nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: ToolWhoami, Description: "Tell who the gateway says the caller is."},
		func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			s.record(ToolWhoami, req)
			h := header(req)
			return text(fmt.Sprintf("subject=%s method=%s scopes=%s",
				h.Get("X-Auth-Subject"), h.Get("X-Auth-Method"), h.Get("X-Auth-Scopes"))), nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: ToolDeployProd, Description: "Deploy a service to production."},
		func(_ context.Context, req *mcp.CallToolRequest, in DeployArgs) (*mcp.CallToolResult, any, error) {
			s.record(ToolDeployProd, req)
			return text("deployed " + in.Service), nil, nil
		})
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, opts)
	mux := http.NewServeMux()
	mux.Handle("/mcp", handler)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Header.Clone())
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	s.Addr = hs.Listener.Addr().String()
	return s
}

func (s *Server) record(tool string, req *mcp.CallToolRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Tool: tool, Header: header(req).Clone()})
}

// Requests returns the headers of every HTTP request received so far.
func (s *Server) Requests() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]http.Header(nil), s.requests...)
}

// Calls returns every tool call run so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// CallsOf returns the calls of one tool.
func (s *Server) CallsOf(tool string) []Call {
	var out []Call
	for _, c := range s.Calls() {
		if c.Tool == tool {
			out = append(out, c)
		}
	}
	return out
}

func header(req *mcp.CallToolRequest) http.Header {
	if req.Extra == nil || req.Extra.Header == nil {
		return http.Header{}
	}
	return req.Extra.Header
}

func text(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}
