package federation

import (
	"context"
	"sync"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/request"

	"github.com/miekg/dns"
)

// Replies of the federation's server block leave with compressed names
// (RFC 1035 §4.1.4), as Knot, BIND and gdnsd send them: a four-address answer
// is about 140 bytes instead of 320.
//
// CoreDNS's server wraps every query's ResponseWriter in request.ScrubWriter,
// whose WriteMsg calls Msg.Truncate; Truncate turns compression off whenever
// the uncompressed reply fits the client's buffer, so a plugin that sets
// Msg.Compress has no effect on the wire. A reply is therefore packed here and
// written as bytes under the ScrubWriter, doing what ScrubWriter does
// (SizeAndDo), and handed to the ScrubWriter as before when it does not fit
// the client's buffer (it truncates it) or carries a TSIG record (the
// connection signs it).
//
// Where the packing happens depends on the server block:
//
//   - federation first in the chain (no plugin ahead of it in the block
//     handles queries): ServeDNS gets the ScrubWriter itself and packs its
//     reply there, at no further cost;
//   - plugins ahead of it (prometheus, log, cache, dnssec...) may wrap the
//     writer and must see WriteMsg; setup then puts wireHandler at the head of
//     the chain, whose writer packs whatever reply reaches it, after those
//     plugins have seen, cached or signed it.

// packBufs holds the buffers replies are packed into; one that a reply
// outgrows (a large TCP reply) is replaced by PackBuffer and not kept.
var packBufs = sync.Pool{New: func() any { b := make([]byte, 2048); return &b }}

// writeCompressed writes m, the reply to req, through sw packed with
// compressed names when it fits the client's buffer.
func writeCompressed(sw *request.ScrubWriter, req, m *dns.Msg) error {
	if m.IsTsig() != nil {
		return sw.WriteMsg(m)
	}
	state := request.Request{Req: req, W: sw}
	state.SizeAndDo(m)
	bp := packBufs.Get().(*[]byte)
	defer packBufs.Put(bp)
	m.Compress = true
	buf, err := m.PackBuffer(*bp)
	if err != nil || len(buf) > state.Size() {
		// Truncated to the client's buffer by the ScrubWriter, or its error.
		return sw.WriteMsg(m)
	}
	_, err = sw.Write(buf)
	return err
}

// wireHandler heads the chain of a server block where plugins precede the
// federation: it gives them a writer that packs compressed replies.
type wireHandler struct{ next plugin.Handler }

func (h wireHandler) Name() string { return "federation-wire" }

func (h wireHandler) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	sw, ok := w.(*request.ScrubWriter)
	if !ok {
		return plugin.NextOrFailure(h.Name(), h.next, ctx, w, r)
	}
	return plugin.NextOrFailure(h.Name(), h.next, ctx, &wireWriter{ScrubWriter: sw, req: r}, r)
}

// wireWriter is the writer wireHandler gives the chain.
type wireWriter struct {
	*request.ScrubWriter
	req *dns.Msg
}

// WriteMsg implements dns.ResponseWriter.
func (w *wireWriter) WriteMsg(m *dns.Msg) error { return writeCompressed(w.ScrubWriter, w.req, m) }

// writeReply writes the federation's reply m to r through w: packed here when
// w is the server's ScrubWriter, else through the plugins that wrap it, which
// then measure it compressed (metrics and log record Msg.Len).
func writeReply(w dns.ResponseWriter, r, m *dns.Msg) {
	if sw, ok := w.(*request.ScrubWriter); ok {
		writeCompressed(sw, r, m)
		return
	}
	m.Compress = true
	w.WriteMsg(m)
}
