// Package lab runs a local federation of Kubernetes member clusters on
// loopback, for coredns-fed's integration tests, the fedlab command, the
// benchmark (test/bench) and the reliability scenarios (test/chaos), and holds
// what those share: child processes (Process, Pinned for CPU pinning), free
// loopback ports (FreePort, FreeDNSPort), waiting (Poll), clients from
// kubeconfigs (ClientFor) and log tails (Tail).
//
// For the faults the scenarios inject, a member's kube-apiserver can be
// killed (KillAPIServer) as well as stopped, etcd stopped and started
// (StopEtcd, StartEtcd), coredns-fed restarted cold (CoreDNS.Restart), and
// with Config.Audit every kube-apiserver keeps an audit log of the list and
// watch requests of ServiceAccounts (AuditLog), to count relists.
//
// One etcd backs every member; each member is a real kube-apiserver with its
// own --etcd-prefix, static-token admin access, RBAC, and a serving
// certificate from the lab's CA. No controllers or kubelets run, so the lab
// writes through the API what they would have written:
//
//   - Node objects carrying topology.kubernetes.io/region and zone labels,
//     as kubelets on a cloud register them;
//   - status.loadBalancer.ingress of every federated Service of type
//     LoadBalancer, as a cloud controller fills it: the member's backend
//     address;
//   - EndpointSlices with ready conditions, labelled (the Service's labels
//     plus the controller's own) and owned as the EndpointSlice controller
//     writes them.
//
// Behind each member's load-balancer address (127.B.1.N, B random per lab)
// an HTTP server on port 80 answers with the member's name, so a request to
// an address DNS answered shows which cluster it reached.
//
// The lab's coredns-fed probes those backends (Config.ShardHealth; the seed
// lab's block is SeedShardHealth), so stopping one takes its address out of
// the answers. A test may run more coredns-fed servers beside it, each on
// ports of its own: the same federation with another Corefile
// (StartVariant), or any Corefile, such as a member cluster's DNS
// (StartServer).
//
// In every member the lab applies deploy/member/rbac.yaml and mints a token
// for its reader ServiceAccount through the TokenRequest API; coredns-fed
// connects with these reader kubeconfigs, never with admin credentials.
//
// Every child process runs in its own process group with SIGKILL as its
// parent-death signal; Close stops them by process group, so nothing
// outlives the lab, even when the test binary is killed.
package lab
