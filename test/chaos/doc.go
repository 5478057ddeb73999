// Package chaos measures how coredns-fed behaves on its worst days: member
// state churning, a member's kube-apiserver or etcd dying, watches expiring,
// coredns-fed itself restarting or reloading its Corefile, and what its
// replies amplify. Every scenario runs against internal/lab's real
// kube-apiservers with a query load going, and every answer of that load is
// checked against the state the scenario had set at the time the question
// was asked, allowing the propagation bound around each change.
//
// The cmd/fedchaos command runs every scenario at full length and writes a
// Markdown and a JSON report (`make chaos`); the integration tests run the
// short form of each on the shared lab.
package chaos
