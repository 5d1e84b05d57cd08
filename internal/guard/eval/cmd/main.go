// Command eval runs the guard's evaluation on the datasets in
// internal/guard/testdata and prints the detection table as markdown.
//
//	go run ./internal/guard/eval/cmd [-seeds 1,2,3,4,5] [-days 40]
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/rhizome-data/rhizome/internal/guard/eval"
)

func main() {
	seeds := flag.String("seeds", "1,2,3,4,5", "comma-separated seeds; each builds its own lake")
	days := flag.Int("days", 40, "daily partitions per dataset")
	datasets := flag.String("datasets", "", "comma-separated datasets (default all)")
	flag.Parse()
	var opts eval.Options
	for _, s := range strings.Split(*seeds, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "eval: bad seed %q\n", s)
			os.Exit(2)
		}
		opts.Seeds = append(opts.Seeds, v)
	}
	opts.Days = *days
	if *datasets != "" {
		opts.Datasets = strings.Split(*datasets, ",")
	}
	rep, err := eval.Run(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("Seeds %v, %d daily partitions per dataset (the first %d only form the baseline), %d siblings per check.\n\n",
		rep.Options.Seeds, rep.Options.Days, rep.Options.Warmup, rep.Options.Window)
	if err := rep.Write(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
