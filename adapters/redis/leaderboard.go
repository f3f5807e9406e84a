package redis

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Leaderboard is a domain.Leaderboard on Redis sorted sets.
//
// # Key layout
//
// Every key starts with <p>lb:, where <p> is the SharedState's key prefix.
//
//	<p>lb:gen                      string: the live generation G ("0" when absent)
//	<p>lb:gen:next                 counter: INCR gives each Replace a new generation
//	<p>lb:gens                     zset: generations not live, by state: a build
//	                               started at ms T scores T; a retired one 0; one being
//	                               deleted -1 (see leaderboard_replace.go)
//	<p>lb:g{G}:wm                  string: the watermark, "%020d.%09d" of (Unix seconds
//	                               + 62135596800, nanoseconds), ordered as text
//	<p>lb:g{G}:members             hash: citizen ID -> member record (below)
//	<p>lb:g{G}:inst                hash: instance ID -> expiry, unix ms ("" = never)
//	<p>lb:g{G}:h:{instance}        hash: citizen ID -> "{score}:{reached}" for every
//	                               citizen credited in the instance, ranked or not
//	<p>lb:g{G}:z:{instance}:city   zset: the city-wide board
//	<p>lb:g{G}:z:{instance}:d:{district}  zset: one district's board
//	<p>lb:g{G}:m:{minute}          set: entry IDs applied with credit.At in that unix
//	                               minute; expires at the minute's end + BoardDedupWindow
//
// Boards hold only ranked citizens (known, not hidden, score > 0; a district board
// only those whose current district it is). A board's sorted-set score is -score
// (an integer, so exact: scores are refused from 2^53 on) and its member is
// "{reached}:{citizen ID}", where {reached} is the reached time as 15 zero-padded
// digits of milliseconds since 0001-01-01 UTC. ZRANGE's ascending (score, member)
// order is then exactly the domain's: score desc, reached time asc, citizen ID asc,
// with no time squeezed into the float. The h: hash remembers each citizen's
// score and reached time, so the old member can be found when either changes, and
// hidden or unknown citizens' scores are kept for when they show up.
//
// A member record is "{version}{hidden}{len(district)}:{district}{nickname}": the
// version as 20 digits of uint64(version) XOR 1<<63 (so text order is numeric order,
// negatives included), hidden "0" or "1", then the district with its byte length,
// then the nickname to the end, so a nickname may hold any bytes.
//
// Instance IDs and districts go into key names as they are. The domain's
// ("day:2026-11-27", "wuxing") cannot collide; an instance ID containing ":d:" or
// ending in ":city" could share a key with another instance's board.
//
// Keys of an instance (h: and z:) expire at its BoardInstance.Expires (PEXPIREAT),
// so a finished period's boards vanish by themselves; the members hash, the
// watermark and the instance index do not expire.
//
// # Generations
//
// Everything but lb:gen, lb:gen:next and lb:gens lives under one generation.
// Replace writes a whole new generation beside the live one, switches lb:gen to it
// in one script, then deletes the old one; every other call is one Lua script that
// reads lb:gen itself, so it is atomic with respect to Replace and sees one
// generation only. The watermark belongs to a generation, so a Redis that lost its
// data has none, and the service rebuilds.
//
// The scripts compute key names, so this adapter needs a single Redis (or a
// primary with replicas), not Redis Cluster.
type Leaderboard struct {
	client *goredis.Client
	ns     string // <p>lb:
	now    func() time.Time
	// beforeSwap, for tests, runs in Replace after the new generation is written
	// and before it goes live; an error fails the Replace there.
	beforeSwap func(ctx context.Context, gen string) error
}

var _ domain.Leaderboard = (*Leaderboard)(nil)

// NewLeaderboard returns leaderboards on s's client, under s's key prefix.
func NewLeaderboard(s *SharedState) *Leaderboard {
	return &Leaderboard{client: s.client, ns: s.prefix + "lb:", now: time.Now}
}

// maxExactGrams bounds scores and credits: every integer below 2^53 is exact in a
// float64, which is what sorted-set scores and Lua numbers are.
const maxExactGrams = 1 << 53

// instanceSkew is how long past its expiry an instance is still visited when a
// member moves, in case this host's clock runs ahead of Redis's.
const instanceSkew = time.Minute

var (
	//go:embed leaderboard_common.lua
	luaCommon string
	//go:embed leaderboard_apply.lua
	luaApply string
	//go:embed leaderboard_members.lua
	luaMembers string
	//go:embed leaderboard_query.lua
	luaQuery string

	applyScript   = goredis.NewScript(luaCommon + luaApply)
	membersScript = goredis.NewScript(luaCommon + luaMembers)
	queryScript   = goredis.NewScript(luaCommon + luaQuery)

	// KEYS[1] = lb:gen, ARGV[1] = <p>lb:. Returns the watermark or "".
	watermarkScript = goredis.NewScript(luaCommon + `
return redis.call('GET', base .. 'wm') or ''
`)
	// KEYS[1] = lb:gen, ARGV[1] = <p>lb:, ARGV[2] = encoded watermark. Moves it
	// forward only.
	setWatermarkScript = goredis.NewScript(luaCommon + `
local old = redis.call('GET', base .. 'wm')
if not old or before(old, ARGV[2]) then
	redis.call('SET', base .. 'wm', ARGV[2])
end
return 0
`)
)

func (l *Leaderboard) genKey() string { return l.ns + "gen" }

// base is where generation gen's keys live.
func (l *Leaderboard) base(gen string) string { return l.ns + "g" + gen + ":" }

func hashKey(base, instance string) string { return base + "h:" + instance }
func cityKey(base, instance string) string { return base + "z:" + instance + ":city" }
func districtKey(base, instance, district string) string {
	return base + "z:" + instance + ":d:" + district
}

// Apply runs every credit in one script, so the call is atomic however many
// credits it carries: the script reads everything and checks every new score
// before it writes anything (Redis does not roll a failed script back). The
// service sends at most one ledger page (1000 entries) at a time.
func (l *Leaderboard) Apply(ctx context.Context, credits []domain.BoardCredit) ([]string, error) {
	if len(credits) == 0 {
		return nil, nil
	}
	n := 0
	for _, c := range credits {
		n += 7 + 2*len(c.Instances)
	}
	args := make([]any, 0, 1+n)
	args = append(args, l.ns)
	window := domain.BoardDedupWindow.Milliseconds()
	for _, c := range credits {
		if c.EntryID == "" || c.CitizenID == "" {
			return nil, errors.New("redis: leaderboard apply: credit without entry or citizen ID")
		}
		if err := checkGrams(c.CO2eGrams); err != nil {
			return nil, fmt.Errorf("redis: leaderboard apply: entry %s: %w", c.EntryID, err)
		}
		reached, err := encodeReached(c.At)
		if err != nil {
			return nil, fmt.Errorf("redis: leaderboard apply: entry %s: %w", c.EntryID, err)
		}
		minute := floorDiv(c.At.UnixMilli(), 60_000)
		markExpiry := (minute+1)*60_000 + window
		args = append(args, c.EntryID, c.CitizenID, strconv.FormatInt(c.CO2eGrams, 10), reached,
			strconv.FormatInt(minute, 10), strconv.FormatInt(markExpiry, 10), strconv.Itoa(len(c.Instances)))
		for _, in := range c.Instances {
			if in.ID == "" {
				return nil, fmt.Errorf("redis: leaderboard apply: entry %s: empty instance ID", c.EntryID)
			}
			args = append(args, in.ID, expiryArg(in.Expires))
		}
	}
	unknown, err := applyScript.Run(ctx, l.client, []string{l.genKey()}, args...).StringSlice()
	if err != nil {
		return nil, fmt.Errorf("redis: leaderboard apply: %w", err)
	}
	if len(unknown) == 0 {
		return nil, nil
	}
	return unknown, nil
}

// SetMembers runs in one script. A member whose district or visibility changes
// is moved on the boards of every instance in the index, each found with one
// HGET of their score.
func (l *Leaderboard) SetMembers(ctx context.Context, members []domain.BoardMember) error {
	if len(members) == 0 {
		return nil
	}
	args := make([]any, 0, 2+2*len(members))
	prune := l.now().Add(-instanceSkew).UnixMilli()
	args = append(args, l.ns, strconv.FormatInt(prune, 10))
	for _, m := range members {
		if m.CitizenID == "" {
			return errors.New("redis: leaderboard set members: member without citizen ID")
		}
		args = append(args, m.CitizenID, encodeMember(m))
	}
	if err := membersScript.Run(ctx, l.client, []string{l.genKey()}, args...).Err(); err != nil {
		return fmt.Errorf("redis: leaderboard set members: %w", err)
	}
	return nil
}

// Query is one script: the top rows, the board's size, the citizen's score, rank
// and neighbours, and every shown citizen's nickname.
func (l *Leaderboard) Query(ctx context.Context, q domain.BoardQuery) (domain.BoardPage, error) {
	limit, neighbours := max(q.Limit, 0), max(q.Neighbours, 0)
	res, err := queryScript.Run(ctx, l.client, []string{l.genKey()}, l.ns, q.Board.Instance, q.Board.District,
		limit, q.CitizenID, neighbours).Slice()
	if err != nil {
		return domain.BoardPage{}, fmt.Errorf("redis: leaderboard query: %w", err)
	}
	page, err := decodeQuery(res, q.CitizenID != "")
	if err != nil {
		return domain.BoardPage{}, fmt.Errorf("redis: leaderboard query: %w", err)
	}
	return page, nil
}

// decodeQuery reads the query script's reply: {top, ranked, me, rank, from,
// around, nicknames}, where top and around are flat member/score lists, me is the
// citizen's "{score}:{reached}" or "", rank their 0-based rank or -1, from the
// rank around starts at, and nicknames the member records of top's citizens then
// around's, in order.
func decodeQuery(res []any, withMe bool) (domain.BoardPage, error) {
	if len(res) != 7 {
		return domain.BoardPage{}, fmt.Errorf("script returned %d values, want 7", len(res))
	}
	top, _ := res[0].([]any)
	ranked, _ := res[1].(int64)
	me, _ := res[2].(string)
	rank, _ := res[3].(int64)
	from, _ := res[4].(int64)
	around, _ := res[5].([]any)
	records, _ := res[6].([]any)
	if len(records) != (len(top)+len(around))/2 {
		return domain.BoardPage{}, fmt.Errorf("script returned %d nicknames for %d rows", len(records), (len(top)+len(around))/2)
	}
	rows := func(flat []any, firstRank int64, records []any) ([]domain.BoardRow, error) {
		out := make([]domain.BoardRow, 0, len(flat)/2)
		for i := 0; i+1 < len(flat); i += 2 {
			member, _ := flat[i].(string)
			score, _ := flat[i+1].(string)
			row, err := decodeRow(member, score)
			if err != nil {
				return nil, err
			}
			row.Rank = firstRank + int64(i/2)
			if rec, ok := records[i/2].(string); ok {
				row.Nickname = decodeMember(rec).Nickname
			}
			out = append(out, row)
		}
		return out, nil
	}
	topRows, err := rows(top, 1, records)
	if err != nil {
		return domain.BoardPage{}, err
	}
	page := domain.BoardPage{Top: topRows, Ranked: ranked}
	if !withMe {
		return page, nil
	}
	page.Me = &domain.BoardStanding{}
	if me != "" {
		score, _, ok := strings.Cut(me, ":")
		if !ok {
			return domain.BoardPage{}, fmt.Errorf("malformed score %q", me)
		}
		if page.Me.CO2eGrams, err = strconv.ParseInt(score, 10, 64); err != nil {
			return domain.BoardPage{}, fmt.Errorf("malformed score %q", me)
		}
	}
	if rank < 0 {
		return page, nil
	}
	page.Me.Rank = rank + 1
	aroundRows, err := rows(around, from+1, records[len(top)/2:])
	if err != nil {
		return domain.BoardPage{}, err
	}
	for _, r := range aroundRows {
		switch {
		case r.Rank < page.Me.Rank:
			page.Me.Above = append(page.Me.Above, r)
		case r.Rank > page.Me.Rank:
			page.Me.Below = append(page.Me.Below, r)
		}
	}
	return page, nil
}

// decodeRow reads a board's member ("{reached}:{citizen}") and sorted-set score
// (-grams).
func decodeRow(member, score string) (domain.BoardRow, error) {
	if len(member) <= reachedWidth+1 || member[reachedWidth] != ':' {
		return domain.BoardRow{}, fmt.Errorf("malformed board member %q", member)
	}
	f, err := strconv.ParseFloat(score, 64)
	if err != nil {
		return domain.BoardRow{}, fmt.Errorf("malformed board score %q", score)
	}
	return domain.BoardRow{CitizenID: member[reachedWidth+1:], CO2eGrams: -int64(f)}, nil
}

// Watermark is one script, which reads the live generation's watermark.
func (l *Leaderboard) Watermark(ctx context.Context) (time.Time, error) {
	v, err := watermarkScript.Run(ctx, l.client, []string{l.genKey()}, l.ns).Text()
	if err != nil {
		return time.Time{}, fmt.Errorf("redis: leaderboard watermark: %w", err)
	}
	if v == "" {
		return time.Time{}, nil
	}
	t, err := decodeWatermark(v)
	if err != nil {
		return time.Time{}, fmt.Errorf("redis: leaderboard watermark: %w", err)
	}
	return t, nil
}

// SetWatermark is one script, which compares and sets, so the watermark never
// moves back even when two replicas race.
func (l *Leaderboard) SetWatermark(ctx context.Context, t time.Time) error {
	v, err := encodeWatermark(t)
	if err != nil {
		return fmt.Errorf("redis: leaderboard set watermark: %w", err)
	}
	if err := setWatermarkScript.Run(ctx, l.client, []string{l.genKey()}, l.ns, v).Err(); err != nil {
		return fmt.Errorf("redis: leaderboard set watermark: %w", err)
	}
	return nil
}

// checkGrams refuses amounts a float64 cannot hold exactly.
func checkGrams(g int64) error {
	if g <= -maxExactGrams || g >= maxExactGrams {
		return fmt.Errorf("%d g CO2e is beyond what boards hold exactly (2^53)", g)
	}
	return nil
}

// Times are encoded from 0001-01-01 UTC, Go's zero time, so every time of years 1
// to 9999 has a non-negative, fixed-width encoding.
const (
	zeroToUnixMs  = 62_135_596_800_000
	zeroToUnixSec = 62_135_596_800
	reachedWidth  = 15 // 9999-12-31 is 315,537,897,599,999 ms after 0001-01-01
)

// encodeReached is a reached time as 15 digits of ms since 0001-01-01 UTC: fixed
// width, so text order is time order, and below 2^53, so Lua compares it exactly
// as a number.
func encodeReached(t time.Time) (string, error) {
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return "", fmt.Errorf("time %v is outside years 1 to 9999", t)
	}
	return fmt.Sprintf("%015d", t.UnixMilli()+zeroToUnixMs), nil
}

func encodeWatermark(t time.Time) (string, error) {
	if t.UTC().Year() < 1 {
		return "", fmt.Errorf("time %v is before year 1", t)
	}
	return fmt.Sprintf("%020d.%09d", t.Unix()+zeroToUnixSec, t.Nanosecond()), nil
}

func decodeWatermark(v string) (time.Time, error) {
	sec, nsec, ok := strings.Cut(v, ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	n, err2 := strconv.ParseInt(nsec, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return time.Time{}, fmt.Errorf("malformed watermark %q", v)
	}
	return time.Unix(s-zeroToUnixSec, n).UTC(), nil
}

// expiryArg is an instance's expiry in unix ms for PEXPIREAT, or "" for never.
func expiryArg(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(max(t.UnixMilli(), 1), 10)
}

func encodeVersion(v int64) string {
	return fmt.Sprintf("%020d", uint64(v)^(1<<63))
}

func encodeMember(m domain.BoardMember) string {
	hidden := "0"
	if m.Hidden {
		hidden = "1"
	}
	return encodeVersion(m.Version) + hidden + strconv.Itoa(len(m.District)) + ":" + m.District + m.Nickname
}

// decodeMember reads a member record; a malformed one reads as hidden.
func decodeMember(v string) domain.BoardMember {
	const head = 21
	if len(v) < head+2 {
		return domain.BoardMember{Hidden: true}
	}
	ver, err := strconv.ParseUint(v[:20], 10, 64)
	n, rest, ok := strings.Cut(v[head:], ":")
	dlen, err2 := strconv.Atoi(n)
	if err != nil || err2 != nil || !ok || dlen < 0 || dlen > len(rest) {
		return domain.BoardMember{Hidden: true}
	}
	return domain.BoardMember{
		Version: int64(ver ^ (1 << 63)), Hidden: v[20] == '1',
		District: rest[:dlen], Nickname: rest[dlen:],
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
