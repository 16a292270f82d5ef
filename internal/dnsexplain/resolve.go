package dnsexplain

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// QueryTimeout bounds the questions about one record.
const QueryTimeout = 5 * time.Second

// Resolver returns a resolver that sends every query to the DNS server at
// addr (host:port, UDP then TCP as the answer needs). The standard
// library's pure-Go resolver asks for A, AAAA and SRV records, which is all
// the explanation needs.
func Resolver(addr string) *net.Resolver {
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// Resolve asks r for every record of rep and records what it answered
// beside what the objects say: Missing then follows the answers, and
// Differs flags an answer the objects do not explain. An answer of "no
// such name" (NXDOMAIN) or "no such record" is an empty answer; any other
// failure (no server at the address, a timeout) is an error, since nothing
// can be said about the names then.
func Resolve(ctx context.Context, rep *Report, r *net.Resolver, addr string) error {
	rep.Resolver = addr
	for gi := range rep.Groups {
		g := &rep.Groups[gi]
		for ri := range g.Records {
			rec := &g.Records[ri]
			answered, err := query(ctx, r, rec.Type, rec.Name)
			if err != nil {
				return fmt.Errorf("asking %s for %s %s: %w", addr, rec.Type, rec.Name, err)
			}
			rec.Answered, rec.Resolved = answered, true
			if len(rec.Expected) > 0 {
				rec.Missing = len(without(rec.Expected, rec.Answered)) > 0
			}
			rec.Differs = !slices.Equal(rec.Answered, rec.Objects)
			if rec.Differs {
				rec.Reasons = append(rec.Reasons, Reason{
					Message: fmt.Sprintf("%s answered %s where the cluster's objects say %s: the server lags behind the API (seconds), caches answers (the `cache` plugin), serves another cluster domain than %s, or is not this cluster's DNS", addr, answerText(rec.Answered), answerText(rec.Objects), rep.ClusterDomain),
					Fix:     "Ask again in a few seconds; check `--cluster-domain` and that the address is the cluster's DNS Service.",
				})
			}
		}
		// Whether the looked-up names resolve now follows the answers.
		g.Notes = append(slices.DeleteFunc(g.Notes, func(r Reason) bool { return r.uses }), usesNotes(g)...)
	}
	return nil
}

func answerText(vals []string) string {
	if len(vals) == 0 {
		return "nothing"
	}
	return strings.Join(vals, ", ")
}

// query asks for one record; the answers are sorted and deduplicated, SRV
// ones as `target:port` without the final dot.
func query(ctx context.Context, r *net.Resolver, typ, name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, QueryTimeout)
	defer cancel()
	// Absolute, so that no search list applies.
	abs := name + "."
	var out []string
	switch typ {
	case "A", "AAAA":
		network := "ip4"
		if typ == "AAAA" {
			network = "ip6"
		}
		ips, err := r.LookupIP(ctx, network, abs)
		if err != nil {
			return notFound(err)
		}
		for _, ip := range ips {
			out = append(out, ip.String())
		}
	case "SRV":
		_, srvs, err := r.LookupSRV(ctx, "", "", abs)
		if err != nil {
			return notFound(err)
		}
		for _, s := range srvs {
			out = append(out, strings.TrimSuffix(s.Target, ".")+":"+strconv.Itoa(int(s.Port)))
		}
	default:
		return nil, fmt.Errorf("unknown record type %s", typ)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// notFound turns "no such name" and "no such record" into an empty answer.
func notFound(err error) ([]string, error) {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return []string{}, nil
	}
	return nil, err
}
