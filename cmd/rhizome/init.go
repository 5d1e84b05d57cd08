package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/rhizome-data/rhizome/internal/config"
	"github.com/rhizome-data/rhizome/internal/keys"
)

func newInit(g *globals) *cobra.Command {
	var backends, regions, k, m int
	var survive, blockSize string
	var masterKey bool
	c := &cobra.Command{
		Use:   "init [--dir DIR] [--backends N --regions R --k K --m M]",
		Short: "Create a store: its config, keys and local backend directories",
		Long: `Create a store in --dir (default ./rhizome-data) with N filesystem backends
spread round-robin over R regions and k+m erasure coding. Edit the written
rhizome.yaml to use S3 backends or other paths (see docs/config.md).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.Generate(g.storeDir(), backends, regions, k, m)
			cfg.Survive = survive
			if blockSize != "" {
				n, err := config.ParseSize(blockSize)
				if err != nil {
					return usageErr("--block-size: %v", err)
				}
				cfg.BlockSize = config.Size(n)
			}
			if masterKey {
				cfg.Keys.MasterKey = "keys/master.key"
			}
			warn, err := cfg.Check()
			if err != nil {
				return usageErr("%v", err)
			}
			for _, w := range warn {
				g.note("rhizome: warning: %s", w)
			}
			if err := createStore(cfg); err != nil {
				return err
			}
			if masterKey {
				if err := keys.CreateMasterKey(cfg.Resolve(cfg.Keys.MasterKey)); err != nil {
					return err
				}
			}
			if _, err := keys.LoadOrCreateSigningKey(cfg.Resolve(cfg.Keys.SigningKey)); err != nil {
				return err
			}
			if g.json {
				return g.printJSON(map[string]any{"dir": cfg.Dir, "backends": len(cfg.Backends), "k": cfg.K, "m": cfg.M})
			}
			fmt.Fprintf(g.stdout, "created store in %s: %d backends in %d regions, k=%d m=%d (survives %s)\n",
				cfg.Dir, backends, regions, k, m, map[string]string{"region": "the loss of any one region", "backends": fmt.Sprintf("the loss of any %d backends", m)}[cfg.Survive])
			fmt.Fprintf(g.stdout, "keep a copy of %s: with it, any %d backends rebuild everything\n", cfg.Resolve("keys"), k)
			return nil
		},
	}
	f := c.Flags()
	f.IntVar(&backends, "backends", 6, "number of filesystem backends")
	f.IntVar(&regions, "regions", 3, "number of regions to spread them over")
	f.IntVar(&k, "k", 4, "data shards: any k shards read an object")
	f.IntVar(&m, "m", 2, "parity shards: how many shards may be lost")
	f.StringVar(&survive, "survive", "region", "region (survive losing a region) or backends (only m backends)")
	f.StringVar(&blockSize, "block-size", "", "block size (default 1MiB)")
	f.BoolVar(&masterKey, "master-key", false, "also create a master key that wraps every data key")
	return c
}
