package lookup

import (
	"encoding/binary"

	corev1 "k8s.io/api/core/v1"
)

// A pod template's containers, as rules.Strip keeps them (a StatefulSet's:
// name, ports, restart policy, command, args, env and envFrom; the other
// owners': name, ports, restart policy), are kept in the record's blob,
// encoded (appendContainers), rather than as a slice of structs of
// strings and slices: a StatefulSet's container was eight heap objects or
// so, all but its strings scanned, and a StatefulSet of the scale
// benchmarks about twelve in all. What has pointers that are not strings
// (an env var's valueFrom, an envFrom list) stays as it is, in a
// containerSide, nil when there is none.
//
// The encoding: a list is its length plus one, a uvarint (0 for nil),
// then its elements; a string its length and bytes; an optional string 0
// for nil or its length plus one and bytes; an int32 a varint. A
// container is its name, restart policy (optional), ports (name,
// hostPort, containerPort, protocol, hostIP), command, args, env (name,
// value, and 0 or the index plus one of its valueFrom in the side) and
// envFrom (0 for nil, or the index plus one of the list in the side).

// containerSide holds what the encoding does not: the env vars'
// valueFrom sources and the containers' envFrom lists, by index.
type containerSide struct {
	valueFrom []*corev1.EnvVarSource
	envFrom   [][]corev1.EnvFromSource
}

// containerEncoder appends the encoding of containers to buf.
type containerEncoder struct {
	buf  []byte
	side *containerSide
}

func (e *containerEncoder) uvarint(n int) { e.buf = binary.AppendUvarint(e.buf, uint64(n)) }

func (e *containerEncoder) str(s string) {
	e.uvarint(len(s))
	e.buf = append(e.buf, s...)
}

func (e *containerEncoder) optStr(s *string) {
	if s == nil {
		e.uvarint(0)
		return
	}
	e.uvarint(len(*s) + 1)
	e.buf = append(e.buf, *s...)
}

func (e *containerEncoder) int32(n int32) { e.buf = binary.AppendVarint(e.buf, int64(n)) }

// list writes a list's length: 0 for nil, its length plus one otherwise;
// it reports whether there are elements to write.
func (e *containerEncoder) list(isNil bool, n int) bool {
	if isNil {
		e.uvarint(0)
		return false
	}
	e.uvarint(n + 1)
	return n > 0
}

func (e *containerEncoder) strs(ss []string) {
	e.list(ss == nil, len(ss))
	for _, s := range ss {
		e.str(s)
	}
}

// sideOf returns the side, made on first use.
func (e *containerEncoder) sideOf() *containerSide {
	if e.side == nil {
		e.side = &containerSide{}
	}
	return e.side
}

// containers writes cs.
func (e *containerEncoder) containers(cs []corev1.Container) {
	e.list(cs == nil, len(cs))
	for i := range cs {
		c := &cs[i]
		e.str(c.Name)
		var policy *string
		if c.RestartPolicy != nil {
			p := string(*c.RestartPolicy)
			policy = &p
		}
		e.optStr(policy)
		e.list(c.Ports == nil, len(c.Ports))
		for _, p := range c.Ports {
			e.str(p.Name)
			e.int32(p.HostPort)
			e.int32(p.ContainerPort)
			e.str(string(p.Protocol))
			e.str(p.HostIP)
		}
		e.strs(c.Command)
		e.strs(c.Args)
		e.list(c.Env == nil, len(c.Env))
		for _, v := range c.Env {
			e.str(v.Name)
			e.str(v.Value)
			if v.ValueFrom == nil {
				e.uvarint(0)
			} else {
				side := e.sideOf()
				side.valueFrom = append(side.valueFrom, v.ValueFrom)
				e.uvarint(len(side.valueFrom))
			}
		}
		if c.EnvFrom == nil {
			e.uvarint(0)
		} else {
			side := e.sideOf()
			side.envFrom = append(side.envFrom, c.EnvFrom)
			e.uvarint(len(side.envFrom))
		}
	}
}

// containerDecoder reads what containerEncoder wrote. Reading what it did
// not write (only a bug would hand it that) reads zero values and empty
// lists to the end, never past it.
type containerDecoder struct {
	s    string
	side *containerSide
}

func (d *containerDecoder) uvarint() uint64 {
	var n uint64
	for shift, i := uint(0), 0; i < len(d.s) && shift <= 63; shift, i = shift+7, i+1 {
		b := d.s[i]
		n |= uint64(b&0x7f) << shift
		if b < 0x80 {
			d.s = d.s[i+1:]
			return n
		}
	}
	d.s = ""
	return 0
}

// bytes reads n bytes; "" when fewer are left.
func (d *containerDecoder) bytes(n uint64) string {
	if n > uint64(len(d.s)) {
		d.s = ""
		return ""
	}
	out := d.s[:n]
	d.s = d.s[n:]
	return out
}

func (d *containerDecoder) str() string { return d.bytes(d.uvarint()) }

func (d *containerDecoder) optStr() *string {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	s := d.bytes(n - 1)
	return &s
}

// int32 reads what binary.AppendVarint wrote (zig-zag).
func (d *containerDecoder) int32() int32 {
	u := d.uvarint()
	n := int64(u >> 1)
	if u&1 != 0 {
		n = ^n
	}
	return int32(n)
}

// list reads a list's length: nil reports whether it is nil. A length
// longer than what is left (each element takes a byte at least) is
// bad: an empty list.
func (d *containerDecoder) list() (n int, isNil bool) {
	m := d.uvarint()
	if m == 0 {
		return 0, true
	}
	if m-1 > uint64(len(d.s)) {
		d.s = ""
		return 0, false
	}
	return int(m - 1), false
}

func (d *containerDecoder) strs() []string {
	n, isNil := d.list()
	if isNil {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

// sideIndex reads a side index: 0 for none, -1 for none too when it is
// not in the side.
func (d *containerDecoder) sideIndex(n int) int {
	i := d.uvarint()
	if i == 0 || i > uint64(n) {
		return -1
	}
	return int(i - 1)
}

// containers reads a list of containers.
func (d *containerDecoder) containers() []corev1.Container {
	n, isNil := d.list()
	if isNil {
		return nil
	}
	var side containerSide
	if d.side != nil {
		side = *d.side
	}
	out := make([]corev1.Container, n)
	for i := range out {
		c := &out[i]
		c.Name = d.str()
		if p := d.optStr(); p != nil {
			policy := corev1.ContainerRestartPolicy(*p)
			c.RestartPolicy = &policy
		}
		if n, isNil := d.list(); !isNil {
			c.Ports = make([]corev1.ContainerPort, n)
			for j := range c.Ports {
				p := &c.Ports[j]
				p.Name = d.str()
				p.HostPort = d.int32()
				p.ContainerPort = d.int32()
				p.Protocol = corev1.Protocol(d.str())
				p.HostIP = d.str()
			}
		}
		c.Command = d.strs()
		c.Args = d.strs()
		if n, isNil := d.list(); !isNil {
			c.Env = make([]corev1.EnvVar, n)
			for j := range c.Env {
				v := &c.Env[j]
				v.Name = d.str()
				v.Value = d.str()
				if k := d.sideIndex(len(side.valueFrom)); k >= 0 {
					v.ValueFrom = side.valueFrom[k]
				}
			}
		}
		if k := d.sideIndex(len(side.envFrom)); k >= 0 {
			c.EnvFrom = side.envFrom[k]
		}
	}
	return out
}
