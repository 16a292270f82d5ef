package dnsexplain_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/headless-guard/headless-guard/internal/dnsexplain"
	"github.com/headless-guard/headless-guard/rules"
)

// dnsServer answers A and SRV questions from a table over UDP on
// loopback; any other name is NXDOMAIN. test/e2e asks the real CoreDNS;
// this one can answer what CoreDNS would only answer while it lags behind
// the API, so that the flagging of differences is tested.
func dnsServer(t *testing.T, answers map[string][]string) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, addr, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			var q dnsmessage.Message
			if q.Unpack(buf[:n]) != nil || len(q.Questions) != 1 {
				continue
			}
			question := q.Questions[0]
			resp := dnsmessage.Message{Header: dnsmessage.Header{ID: q.ID, Response: true, Authoritative: true}, Questions: q.Questions}
			name := strings.TrimSuffix(question.Name.String(), ".")
			vals, ok := answers[question.Type.String()[len("Type"):]+" "+name]
			if !ok {
				resp.RCode = dnsmessage.RCodeNameError
			}
			hdr := dnsmessage.ResourceHeader{Name: question.Name, Class: dnsmessage.ClassINET, TTL: 5}
			for _, v := range vals {
				switch question.Type {
				case dnsmessage.TypeA:
					a := netip.MustParseAddr(v).As4()
					resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AResource{A: a}})
				case dnsmessage.TypeSRV:
					host, port, _ := strings.Cut(v, ":")
					p, _ := strconv.Atoi(port)
					resp.Answers = append(resp.Answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.SRVResource{Target: dnsmessage.MustNewName(host + "."), Port: uint16(p), Weight: 100}})
				}
			}
			packed, err := resp.Pack()
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = conn.WriteTo(packed, addr)
		}
	}()
	return conn.LocalAddr().String()
}

// TestResolve: the answers of a DNS server beside the objects', each
// difference flagged and explained, and Missing following the answers.
func TestResolve(t *testing.T) {
	hg009 := scenarios[9]
	if hg009.ns != "hg009" {
		t.Fatalf("scenarios changed: %s", hg009.ns)
	}
	rep, err := dnsexplain.Explain(build(hg009), dnsexplain.Target{Kind: rules.KindStatefulSet, Namespace: "hg009", Name: "web"}, dnsexplain.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep.DomainSource = "the default"
	// A server that still answers web-1 under the Service name (it lags
	// behind the API), and has dropped web-0's name already.
	addr := dnsServer(t, map[string][]string{
		"A web-1.nginx-headless.hg009.svc.cluster.local": {},
		"A nginx-headless.hg009.svc.cluster.local":       {"10.244.0.1", "10.244.0.2"},
		"SRV _web._tcp.nginx-headless.hg009.svc.cluster.local": {
			"web-0.nginx-headless.hg009.svc.cluster.local:80",
		},
	})
	if err := dnsexplain.Resolve(context.Background(), rep, dnsexplain.Resolver(addr), addr); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rep.Groups[0].Records {
		got[r.Type+" "+r.Name] = strconv.FormatBool(r.Missing) + "," + strconv.FormatBool(r.Differs)
	}
	want := map[string]string{
		"A web-0.nginx-headless.hg009.svc.cluster.local":       "true,true",
		"A web-1.nginx-headless.hg009.svc.cluster.local":       "true,false",
		"A nginx-headless.hg009.svc.cluster.local":             "false,true",
		"SRV _web._tcp.nginx-headless.hg009.svc.cluster.local": "true,false",
	}
	if len(got) != len(want) {
		t.Errorf("records %v, want %v", got, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: missing,differs = %s, want %s", k, got[k], w)
		}
	}
	var buf bytes.Buffer
	if err := dnsexplain.RenderText(&buf, rep); err != nil {
		t.Fatal(err)
	}
	golden(t, "hg009-resolve.txt.golden", []byte(strings.ReplaceAll(buf.String(), addr, "127.0.0.1:PORT")))

	// A question that gets no answer (here the context ends first) is an
	// error naming the server, never an empty answer.
	rep2, _ := dnsexplain.Explain(build(hg009), dnsexplain.Target{Namespace: "hg009"}, dnsexplain.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := dnsexplain.Resolve(ctx, rep2, dnsexplain.Resolver(addr), addr); err == nil || !strings.Contains(err.Error(), "asking "+addr+" for") {
		t.Errorf("a question without answer: err %v", err)
	}
}
