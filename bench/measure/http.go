package measure

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// HTTPCaller is the HTTP side of a closed-loop Worker: the caller sets up Req
// (method, URI, headers, body) and Do sends it.
type HTTPCaller struct {
	Client *fasthttp.HostClient
	Req    *fasthttp.Request
	Resp   *fasthttp.Response
	Want   int // the status of a successful call
}

// NewHTTPCaller returns a caller to addr; set Want.
func NewHTTPCaller(addr string) *HTTPCaller {
	return &HTTPCaller{
		// One client per worker, with one connection: the server sees as many
		// keep-alive connections as there are workers, each with one request
		// at a time.
		Client: &fasthttp.HostClient{
			Addr: addr, MaxConns: 1, MaxConnWaitTimeout: time.Minute,
			ReadTimeout: time.Minute, WriteTimeout: time.Minute, NoDefaultUserAgentHeader: true,
		},
		Req: fasthttp.AcquireRequest(), Resp: fasthttp.AcquireResponse(),
	}
}

// Do sends Req. A failed call's key is "transport error", or the status and
// the problem's code, e.g. "HTTP 422 daily_cap_reached".
func (c *HTTPCaller) Do(context.Context) Outcome {
	if err := c.Client.Do(c.Req, c.Resp); err != nil {
		return Outcome{Key: "transport error", Detail: err.Error()}
	}
	status := c.Resp.StatusCode()
	if status == c.Want {
		return Outcome{OK: true}
	}
	body := c.Resp.Body()
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &p)
	return Outcome{Key: "HTTP " + strconv.Itoa(status) + " " + p.Code, Detail: string(bytes.Clone(body))}
}
