package connfilter

import "context"

// HelloFunc makes a Filter of a judgement on the TLS ClientHello: f runs
// at StageHello only (other stages admit) and returns "" to admit, or a
// reason (a metric label such as "sni_unknown") to refuse.
func HelloFunc(name string, f func(h *Hello) (reason string)) Filter {
	return Func(func(_ context.Context, in *Info) (func(), error) {
		if in.Stage != StageHello || in.Hello == nil {
			return nil, nil
		}
		if reason := f(in.Hello); reason != "" {
			return nil, &RejectError{Filter: name, Reason: reason, Client: in.Client.Addr().Unmap()}
		}
		return nil, nil
	})
}
