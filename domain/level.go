package domain

// Level is a carbon grade reached at a lifetime CO2e total. Banks see the level and
// benefits may require a minimum one.
type Level struct {
	Number  int    `json:"number"`
	Name    string `json:"name"`
	MinCO2e int64  `json:"min_co2e_g"` // grams of CO2e avoided needed to reach it
}

// DefaultLevels follow the light/mid/dark green grades used by bank-linked carbon
// accounts (0–50 kg, 50–100 kg, over 100 kg; see shared/reference/peers.md), with a
// top grade at 500 kg. Operators will configure them (carbon engine issue).
var DefaultLevels = []Level{
	{Number: 1, Name: "浅绿", MinCO2e: 0},
	{Number: 2, Name: "中绿", MinCO2e: 50_000},
	{Number: 3, Name: "深绿", MinCO2e: 100_000},
	{Number: 4, Name: "碳中和先锋", MinCO2e: 500_000},
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
