package main

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/serverless-architect/serverless-architect/internal/devstack"
)

func newSeedCmd(stdout io.Writer) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Fill the running local stack with demo data: a user with a to-do, an admin, posts, a photo",
		Long: `Fill the running local stack with demo data through the same APIs the apps use:
` + devstack.SeedUser + ` (with a to-do) and ` + devstack.SeedAdmin + ` (in the admins group),
both with the password ` + devstack.SeedPassword + `, three posts and a photo (its thumbnail
follows). It prints how to sign in. Run it again as often as you like: what exists is
kept. For the local stack only: the password is public.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := stackDir(dir)
			if err != nil {
				return err
			}
			return devstack.Seed(cmd.Context(), dir, stdout)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".dev", "the stack's directory, relative to the repository root")
	return cmd
}
