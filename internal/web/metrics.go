package web

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the server's Prometheus metrics. One is made per server and
// passed to whoever counts: the protocol packages can increment the
// counters directly. Names carry no software name.
type Metrics struct {
	// Registry holds every metric below plus the Go runtime and process
	// collectors.
	Registry *prometheus.Registry
	// Connections counts accepted connections by listener name.
	Connections *prometheus.CounterVec
	// Logins counts login attempts by protocol and result ("ok" or a
	// Reason).
	Logins *prometheus.CounterVec
	// MessagesReceived counts messages accepted by SMTP, by listener kind
	// ("mx", "submission").
	MessagesReceived *prometheus.CounterVec
	// MessagesSent counts messages delivered to other servers, by result
	// ("delivered", "deferred", "bounced").
	MessagesSent *prometheus.CounterVec
	// DeliveryLatency observes seconds from acceptance to delivery.
	DeliveryLatency prometheus.Histogram
}

// MetricsOptions give Metrics the gauges that are read when scraped.
type MetricsOptions struct {
	// OpenConnections returns the connections open now; may be nil.
	OpenConnections func() int
	// QueueSize returns the messages in the outbound queue; may be nil.
	// A negative value means unknown and is not reported.
	QueueSize func() int
}

// NewMetrics makes and registers the metrics.
func NewMetrics(o MetricsOptions) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		Connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mail", Name: "connections_total", Help: "Connections accepted, by listener.",
		}, []string{"listener"}),
		Logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mail", Name: "logins_total", Help: "Login attempts, by protocol and result (ok, password, appproto, protocol, tls, throttled, disabled, other).",
		}, []string{"protocol", "result"}),
		MessagesReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mail", Name: "messages_received_total", Help: "Messages accepted over SMTP, by kind (mx, submission).",
		}, []string{"kind"}),
		MessagesSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "mail", Name: "messages_sent_total", Help: "Outbound deliveries, by result (delivered, deferred, bounced).",
		}, []string{"result"}),
		DeliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "mail", Name: "delivery_latency_seconds", Help: "Seconds from acceptance to delivery to the next server.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 1800, 3600, 4 * 3600, 24 * 3600},
		}),
	}
	reg.MustRegister(m.Connections, m.Logins, m.MessagesReceived, m.MessagesSent, m.DeliveryLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.OpenConnections != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "mail", Name: "open_connections", Help: "Mail protocol connections open now.",
		}, func() float64 { return float64(o.OpenConnections()) }))
	}
	if o.QueueSize != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "mail", Name: "queue_messages", Help: "Messages waiting in the outbound queue (-1: unknown).",
		}, func() float64 { return float64(o.QueueSize()) }))
	}
	// Make the series visible at 0 before the first event.
	for _, k := range []string{"mx", "submission"} {
		m.MessagesReceived.WithLabelValues(k)
	}
	for _, r := range []string{"delivered", "deferred", "bounced"} {
		m.MessagesSent.WithLabelValues(r)
	}
	for _, p := range []string{"imap", "pop3", "smtp", "web"} {
		m.Logins.WithLabelValues(p, "ok")
		m.Logins.WithLabelValues(p, string(ReasonPassword))
	}
	return m
}

// Login counts one login attempt.
func (m *Metrics) Login(protocol string, r Reason) {
	res := string(r)
	if r == ReasonNone {
		res = "ok"
	}
	m.Logins.WithLabelValues(protocol, res).Inc()
}

// Accepted counts one message accepted over SMTP; kind is "mx" or
// "submission".
func (m *Metrics) Accepted(kind string) {
	m.MessagesReceived.WithLabelValues(kind).Inc()
}

// Delivery counts one outbound delivery attempt to a recipient by result
// ("delivered", "deferred", "bounced") and observes the latency of the
// delivered ones.
func (m *Metrics) Delivery(result string, sinceQueued time.Duration) {
	m.MessagesSent.WithLabelValues(result).Inc()
	if result == "delivered" {
		m.DeliveryLatency.Observe(sinceQueued.Seconds())
	}
}

// Connection counts one connection accepted on a listener.
func (m *Metrics) Connection(listener string) {
	m.Connections.WithLabelValues(listener).Inc()
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
