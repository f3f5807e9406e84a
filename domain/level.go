package domain

// Level is a carbon grade reached at a lifetime CO2e total. Banks see the level and
// benefits may require a minimum one.
type Level struct {
	Number  int    `json:"number"`
	Name    string `json:"name"`
	MinCO2e int64  `json:"min_co2e_g"` // grams of CO2e avoided needed to reach it
}

// LevelFor returns the highest level in levels (sorted by MinCO2e) whose threshold
// co2eGrams reaches.
func LevelFor(levels []Level, co2eGrams int64) Level {
	best := levels[0]
	for _, l := range levels {
		if co2eGrams >= l.MinCO2e {
			best = l
		}
	}
	return best
}
