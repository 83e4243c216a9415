package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/faultline/faultline"
	"github.com/faultline/faultline/engine"
	"github.com/faultline/faultline/sut"
)

func imageCmd() *cobra.Command {
	var (
		force   bool
		system  string
		version string
	)
	faultline.RegisterSystems()
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build the FROM-scratch node image of a system (its binaries + netctl) and print its tag",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			sys, err := sut.ByName(system)
			if err != nil {
				return usageError{err}
			}
			cfg := engine.DefaultBuildConfig()
			opts := sut.Options{Version: version}
			if err := sys.Info().Validate(opts); err != nil {
				return usageError{err}
			}
			cfg.System, cfg.Options = sys, opts
			cfg.Force = force
			tag, err := engine.BuildImage(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			fmt.Println(tag)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "rebuild without the cache even if the tag exists")
	cmd.Flags().StringVar(&version, "system-version", "", "server release to build, for systems that have versions (default: the system's newest)")
	cmd.Flags().StringVar(&system, "system", sut.Default().Info().Name, "system whose image to build: "+strings.Join(sut.Names(), " or "))
	return cmd
}

// usageArgs marks argument-count errors as usage errors (exit 254).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError{fmt.Errorf("%w (see: faultline %s --help)", err, cmd.Name())}
		}
		return nil
	}
}
