package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Replace builds a new generation beside the live one and switches to it:
//
//  1. INCR lb:gen:next names generation N, and lb:gens records it as building.
//  2. Pipelines write its members, instance index, scores, boards, dedup markers
//     and watermark, in commands of up to replaceChunk fields.
//  3. One script makes N live, if it is still registered as building, and
//     retires the old generation.
//  4. The retired generation's keys are deleted (SCAN MATCH + UNLINK).
//
// If anything fails before the switch, the new generation is deleted. If this
// process dies half-way, the generation stays registered as building, and the
// next Replace deletes it once it is older than buildLease; it can then never be
// switched to. Failing to delete a retired generation does not fail the Replace
// (the boards were swapped): it stays registered and the next Replace retries.
func (l *Leaderboard) Replace(ctx context.Context, snap *domain.BoardSnapshot) error {
	if snap == nil {
		return errors.New("redis: leaderboard replace: nil snapshot")
	}
	p, err := planGeneration(snap)
	if err != nil {
		return fmt.Errorf("redis: leaderboard replace: %w", err)
	}
	n, err := l.client.Incr(ctx, l.ns+"gen:next").Result()
	if err != nil {
		return fmt.Errorf("redis: leaderboard replace: %w", err)
	}
	gen := strconv.FormatInt(n, 10)
	if err := l.client.ZAdd(ctx, l.gensKey(), goredis.Z{Score: float64(l.now().UnixMilli()), Member: gen}).Err(); err != nil {
		return fmt.Errorf("redis: leaderboard replace: %w", err)
	}
	err = l.writeGeneration(ctx, l.base(gen), p)
	if err == nil && l.beforeSwap != nil {
		err = l.beforeSwap(ctx, gen)
	}
	if err == nil {
		err = swapScript.Run(ctx, l.client, []string{l.genKey(), l.gensKey()}, gen).Err()
		if err != nil && l.isLive(ctx, gen) {
			err = nil // the reply was lost, not the switch
		}
	}
	if err != nil {
		_ = l.dropGeneration(context.WithoutCancel(ctx), gen)
		return fmt.Errorf("redis: leaderboard replace: %w", err)
	}
	// The boards are swapped: clean up even if the caller gives up now.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	_ = l.sweep(sctx)
	return nil
}

// Generations are retired (and abandoned builds deleted) under lb:gens.
func (l *Leaderboard) gensKey() string { return l.ns + "gens" }

// buildLease is how old a generation still being built may grow before it is
// taken for abandoned and deleted. A million scores take seconds to write.
const buildLease = time.Hour

// replaceChunk is how many fields one HSET, ZADD or SADD of Replace carries, and
// replacePipeline how many fields one pipeline round trip carries.
const (
	replaceChunk    = 1000
	replacePipeline = 64 * replaceChunk
)

var (
	// KEYS[1] = lb:gen, KEYS[2] = lb:gens, ARGV[1] = the new generation. Makes it
	// live if it is still being built (not swept as abandoned), and retires the
	// one it replaces. Returns the retired generation.
	swapScript = goredis.NewScript(`
local s = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not s or tonumber(s) <= 0 then
	return redis.error_reply('ERR leaderboard generation ' .. ARGV[1] .. ' was abandoned before it went live')
end
local old = redis.call('GET', KEYS[1]) or '0'
redis.call('SET', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if old ~= ARGV[1] then redis.call('ZADD', KEYS[2], 0, old) end
return old
`)
	// KEYS[1] = lb:gen, KEYS[2] = lb:gens, ARGV[1] = a generation, ARGV[2] = ms.
	// Claims the generation for deletion (score -1, which the swap refuses) if it
	// is registered with a score at most ARGV[2] and is not live. Returns 1 if
	// claimed.
	claimScript = goredis.NewScript(`
local s = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not s or tonumber(s) > tonumber(ARGV[2]) then return 0 end
if (redis.call('GET', KEYS[1]) or '0') == ARGV[1] then
	redis.call('ZREM', KEYS[2], ARGV[1])
	return 0
end
redis.call('ZADD', KEYS[2], -1, ARGV[1])
return 1
`)
)

// isLive reports whether gen is the live generation, to tell a swap whose reply
// was lost from one that failed.
func (l *Leaderboard) isLive(ctx context.Context, gen string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	cur, err := l.client.Get(ctx, l.genKey()).Result()
	return err == nil && cur == gen
}

// sweep deletes every retired generation and every build older than buildLease.
func (l *Leaderboard) sweep(ctx context.Context) error {
	cutoff := l.now().Add(-buildLease).UnixMilli()
	gens, err := l.client.ZRangeByScore(ctx, l.gensKey(), &goredis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(cutoff, 10),
	}).Result()
	if err != nil {
		return err
	}
	var errs []error
	for _, g := range gens {
		errs = append(errs, l.deleteGeneration(ctx, g, cutoff))
	}
	return errors.Join(errs...)
}

// dropGeneration deletes a generation this Replace built and did not switch to.
func (l *Leaderboard) dropGeneration(ctx context.Context, gen string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := l.client.ZAdd(ctx, l.gensKey(), goredis.Z{Score: 0, Member: gen}).Err(); err != nil {
		return err
	}
	return l.deleteGeneration(ctx, gen, 0)
}

// deleteGeneration claims gen and unlinks its keys; it stays claimed (and is
// retried by the next sweep) until every key is gone.
func (l *Leaderboard) deleteGeneration(ctx context.Context, gen string, cutoff int64) error {
	ok, err := claimScript.Run(ctx, l.client, []string{l.genKey(), l.gensKey()}, gen, cutoff).Int()
	if err != nil || ok != 1 {
		return err
	}
	match := globEscape(l.base(gen)) + "*"
	iter := l.client.Scan(ctx, 0, match, 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) >= 500 {
			if err := l.client.Unlink(ctx, keys...).Err(); err != nil {
				return err
			}
			keys = keys[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(keys) > 0 {
		if err := l.client.Unlink(ctx, keys...).Err(); err != nil {
			return err
		}
	}
	return l.client.ZRem(ctx, l.gensKey(), gen).Err()
}

// globEscape quotes the characters SCAN MATCH treats as patterns.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// plan is a snapshot checked and encoded, ready to write.
type plan struct {
	members   map[string]domain.BoardMember
	instances map[string]string // ID -> expiry arg ("" for never)
	scores    map[string][]planScore
	marks     map[int64][]string // dedup minute -> entry IDs
	watermark string             // "" for none
}

type planScore struct {
	citizen string
	grams   int64
	reached string
}

// planGeneration checks and encodes a snapshot, so nothing is written for a
// snapshot that would be refused. Duplicate members keep the highest version;
// duplicate scores of one citizen in one instance are added up, as Apply would.
func planGeneration(snap *domain.BoardSnapshot) (*plan, error) {
	p := &plan{
		members:   make(map[string]domain.BoardMember, len(snap.Members)),
		instances: map[string]string{},
		scores:    make(map[string][]planScore, len(snap.Scores)),
		marks:     map[int64][]string{},
	}
	for _, m := range snap.Members {
		if m.CitizenID == "" {
			return nil, errors.New("member without citizen ID")
		}
		if old, ok := p.members[m.CitizenID]; !ok || m.Version >= old.Version {
			p.members[m.CitizenID] = m
		}
	}
	for _, in := range snap.Instances {
		if in.ID == "" {
			return nil, errors.New("empty instance ID")
		}
		p.instances[in.ID] = expiryArg(in.Expires)
	}
	for inst, scores := range snap.Scores {
		if inst == "" {
			return nil, errors.New("scores of an empty instance ID")
		}
		if _, ok := p.instances[inst]; !ok {
			p.instances[inst] = "" // not listed: kept, like "all", until replaced
		}
		out := make([]planScore, 0, len(scores))
		index := make(map[string]int, len(scores))
		for _, sc := range scores {
			if sc.CitizenID == "" {
				return nil, fmt.Errorf("score without citizen ID in %s", inst)
			}
			if err := checkGrams(sc.CO2eGrams); err != nil {
				return nil, fmt.Errorf("citizen %s in %s: %w", sc.CitizenID, inst, err)
			}
			reached, err := encodeReached(sc.ReachedAt)
			if err != nil {
				return nil, fmt.Errorf("citizen %s in %s: %w", sc.CitizenID, inst, err)
			}
			if i, ok := index[sc.CitizenID]; ok {
				s := &out[i]
				s.grams += sc.CO2eGrams
				if err := checkGrams(s.grams); err != nil {
					return nil, fmt.Errorf("citizen %s in %s: %w", sc.CitizenID, inst, err)
				}
				s.reached = max(s.reached, reached) // fixed width: text order is time order
				continue
			}
			index[sc.CitizenID] = len(out)
			out = append(out, planScore{citizen: sc.CitizenID, grams: sc.CO2eGrams, reached: reached})
		}
		p.scores[inst] = out
	}
	for _, c := range snap.Applied {
		if c.EntryID == "" {
			return nil, errors.New("applied credit without entry ID")
		}
		minute := floorDiv(c.At.UnixMilli(), 60_000)
		p.marks[minute] = append(p.marks[minute], c.EntryID)
	}
	if !snap.Watermark.IsZero() {
		wm, err := encodeWatermark(snap.Watermark)
		if err != nil {
			return nil, err
		}
		p.watermark = wm
	}
	return p, nil
}

// writeGeneration writes a plan under base, in pipelines.
func (l *Leaderboard) writeGeneration(ctx context.Context, base string, p *plan) error {
	w := newChunkWriter(ctx, l.client)

	fields := make([]string, 0, 2*len(p.members))
	for id, m := range p.members {
		fields = append(fields, id, encodeMember(m))
	}
	w.fields("HSET", base+"members", fields, 2)

	index := make([]string, 0, 2*len(p.instances))
	for id, exp := range p.instances {
		index = append(index, id, exp)
	}
	w.fields("HSET", base+"inst", index, 2)

	for inst, scores := range p.scores {
		hash := make([]string, 0, 2*len(scores))
		city := make([]string, 0, 2*len(scores))
		districts := map[string][]string{}
		// In board order, each ZADD appends to the end of the skip list, where
		// the last insert left the nodes in cache: much faster than at random.
		slices.SortFunc(scores, func(a, b planScore) int {
			return cmp.Or(cmp.Compare(b.grams, a.grams), strings.Compare(a.reached, b.reached), strings.Compare(a.citizen, b.citizen))
		})
		for _, s := range scores {
			g := strconv.FormatInt(s.grams, 10)
			hash = append(hash, s.citizen, g+":"+s.reached)
			m, known := p.members[s.citizen]
			if !known || m.Hidden || s.grams <= 0 {
				continue
			}
			neg, member := "-"+g, s.reached+":"+s.citizen
			city = append(city, neg, member)
			if m.District != "" {
				districts[m.District] = append(districts[m.District], neg, member)
			}
		}
		keys := []string{hashKey(base, inst), cityKey(base, inst)}
		w.fields("HSET", keys[0], hash, 2)
		w.fields("ZADD", keys[1], city, 2)
		for d, members := range districts {
			keys = append(keys, districtKey(base, inst, d))
			w.fields("ZADD", keys[len(keys)-1], members, 2)
		}
		if exp := p.instances[inst]; exp != "" {
			for _, k := range keys {
				w.do("PEXPIREAT", k, exp)
			}
		}
	}

	window := domain.BoardDedupWindow.Milliseconds()
	for minute, entries := range p.marks {
		k := base + "m:" + strconv.FormatInt(minute, 10)
		w.fields("SADD", k, entries, 1)
		w.do("PEXPIREAT", k, strconv.FormatInt((minute+1)*60_000+window, 10))
	}
	if p.watermark != "" {
		w.do("SET", base+"wm", p.watermark)
	}
	return w.close()
}

// chunkWriter queues commands on a pipeline and sends it whenever it holds
// replacePipeline fields. One pipeline is in flight while the next is built, so
// the client's encoding overlaps the server's work; pipelines still reach the
// server in order (a PEXPIREAT after the ZADD it follows). The first error stops
// it; close waits for the pipeline in flight, so nothing is written after it.
type chunkWriter struct {
	ctx      context.Context
	client   *goredis.Client
	pipe     goredis.Pipeliner
	queued   int
	inflight chan error // the Exec in flight, nil for none
	err      error
}

func newChunkWriter(ctx context.Context, client *goredis.Client) *chunkWriter {
	return &chunkWriter{ctx: ctx, client: client, pipe: client.Pipeline()}
}

// fields queues cmd key items..., split into commands of replaceChunk fields of
// width strings each (2 for a hash's field and value or a zset's score and
// member, 1 for a set's member).
func (w *chunkWriter) fields(cmd, key string, items []string, width int) {
	step := replaceChunk * width
	for i := 0; i < len(items); i += step {
		part := items[i:min(i+step, len(items))]
		args := make([]any, 0, 2+len(part))
		args = append(args, cmd, key)
		for _, s := range part {
			args = append(args, s)
		}
		w.queue(args, len(part)/width)
	}
}

func (w *chunkWriter) do(args ...any) { w.queue(args, 1) }

func (w *chunkWriter) queue(args []any, n int) {
	if w.err != nil {
		return
	}
	w.pipe.Do(w.ctx, args...)
	w.queued += n
	if w.queued >= replacePipeline {
		w.send()
	}
}

// send waits for the pipeline in flight, then sends the one built.
func (w *chunkWriter) send() {
	w.wait()
	if w.err != nil || w.pipe.Len() == 0 {
		return
	}
	p, done := w.pipe, make(chan error, 1)
	w.pipe, w.queued, w.inflight = w.client.Pipeline(), 0, done
	go func() {
		_, err := p.Exec(w.ctx)
		done <- err
	}()
}

func (w *chunkWriter) wait() {
	if w.inflight == nil {
		return
	}
	if err := <-w.inflight; err != nil && w.err == nil {
		w.err = err
	}
	w.inflight = nil
}

// close sends what is left and waits until every pipeline has run.
func (w *chunkWriter) close() error {
	w.send()
	w.wait()
	return w.err
}
