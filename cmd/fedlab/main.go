// Command fedlab runs coredns-fed's local federation lab: one etcd, a real
// kube-apiserver per member cluster, an HTTP backend behind each member's
// load-balancer address, and coredns-fed answering for the federation, all
// on loopback.
//
//	fedlab demo                          run the seed lab in the foreground until Ctrl-C
//	fedlab up                            start the same lab in the background
//	fedlab down                          stop a lab started with up
//	fedlab status                        show the running lab
//	fedlab endpoints ready|unready CLUSTER
//	fedlab backend start|stop CLUSTER
//	fedlab apiserver start|stop CLUSTER
//	fedlab service add|remove NAME
//
// The break and repair commands work against a lab started by either demo or
// up: the process that owns the lab (demo itself, or the background
// supervisor that up starts) listens on a Unix socket in the lab directory
// and carries them out. Backends run inside that process; etcd,
// kube-apiservers and coredns-fed are its children, each in its own process
// group, and die with it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

const usage = `usage: fedlab [-dir DIR] COMMAND [ARGS]

Commands:
  demo                              run the seed lab in the foreground until Ctrl-C
  up                                start the seed lab in the background
  down                              stop the lab started by up, remove its directory
  status                            show the running lab
  endpoints ready|unready CLUSTER   mark a cluster's endpoints (un)ready
  backend start|stop CLUSTER        start or stop a cluster's HTTP backend
  apiserver start|stop CLUSTER      start or stop a cluster's kube-apiserver
  service add|remove NAME           add or remove a federated service everywhere
  drain on|off CLUSTER              annotate a cluster's services coredns-fed.io/drain (or not)

Flags:
`

func main() {
	fs := flag.NewFlagSet("fedlab", flag.ExitOnError)
	dir := fs.String("dir", ".lab", "lab directory: state, kubeconfigs, logs, env file")
	fs.Usage = func() {
		fmt.Fprint(os.Stderr, usage)
		fs.PrintDefaults()
	}
	fs.Parse(os.Args[1:])
	args := fs.Args()
	if len(args) == 0 {
		fs.Usage()
		os.Exit(2)
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		fatal(err)
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "demo":
		err = demo(abs)
	case "up":
		err = up(abs)
	case "serve":
		// Hidden: the background supervisor that up starts.
		err = serve(abs)
	case "down":
		err = down(abs)
	case "status":
		err = control(abs, "status", "", "")
	case "endpoints", "backend", "apiserver", "service", "drain":
		if len(args) != 2 {
			fs.Usage()
			os.Exit(2)
		}
		err = control(abs, cmd, args[0], args[1])
	default:
		fs.Usage()
		os.Exit(2)
	}
	if err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "fedlab:", err)
	os.Exit(1)
}
