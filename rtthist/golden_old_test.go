package rtthist

import "github.com/hbmon/hb/state"

func setTable(*Config, *state.Table) {}
