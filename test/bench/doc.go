// Package bench measures coredns-fed: query throughput beside CoreDNS's file and
// whoami plugins and Knot DNS, propagation of EndpointSlice changes into answers,
// memory and cold-sync time of a large federation, and the query path's profile.
//
// Everything runs on loopback. Member clusters are internal/lab's
// real kube-apiservers, filled through the API with federated Services and
// EndpointSlices; the 50-cluster part feeds the federation plugin from fake
// clientsets in a child process and is reported as synthetic. The cmd/fedbench
// command runs it all and writes a Markdown and a JSON report; `make bench` is
// the entry point.
package bench
