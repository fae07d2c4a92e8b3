// One simulation step of the particle system: every particle of the pool moves from the previous
// frame's time to this frame's, in `substeps` fixed steps; the frame's newborns (a run of
// `n_emit` slots starting at `head` in the ring-shaped pool) are spawned first.
//
// Randomness comes only from a hash of (seed, slot, frame, draw number), never from a clock, so
// the same seed and inputs give the same particles on every run.

// Structs shared with Python are declared once, in gpurender/render/structs.py.
//#include "struct Particle"

//#include "struct ParticlesStep"

// Read-only storage, not uniform: see gpurender.render.shaderlib.params_buffer.
@group(0) @binding(0) var<storage, read> sim: ParticlesStep;
@group(0) @binding(1) var<storage, read_write> particles: array<Particle>;

const TAU: f32 = 6.28318530718;

// An integer hash with good avalanche (xor-shift-multiply rounds).
fn mix32(v: u32) -> u32 {
    var x = v;
    x = x ^ (x >> 16u);
    x = x * 0x7feb352du;
    x = x ^ (x >> 15u);
    x = x * 0x846ca68bu;
    x = x ^ (x >> 16u);
    return x;
}

// A uniform float in [0, 1) for draw number `n` of particle `slot` at `frame`.
fn rand(slot: u32, n: u32) -> f32 {
    var h = mix32(sim.seed ^ 0x9e3779b9u);
    h = mix32(h ^ slot);
    h = mix32(h ^ sim.frame);
    h = mix32(h ^ n);
    return f32(h >> 8u) * (1.0 / 16777216.0);
}

fn spawn(slot: u32) -> Particle {
    var p: Particle;
    p.age = 0.0;
    p.life = sim.life * (1.0 - clamp(sim.life_jitter, 0.0, 1.0) * rand(slot, 0u));
    let speed = sim.speed * (1.0 - clamp(sim.speed_jitter, 0.0, 1.0) * rand(slot, 1u));
    if (sim.screen == 1u) {
        let heading = atan2(sim.direction.y, sim.direction.x) + (2.0 * rand(slot, 2u) - 1.0) * sim.spread;
        p.vel = speed * vec3<f32>(cos(heading), sin(heading), 0.0);
        let a = TAU * rand(slot, 3u);
        p.pos = sim.emitter + sim.radius * sqrt(rand(slot, 4u)) * vec3<f32>(cos(a), sin(a), 0.0);
        p.pos.z = 0.0;
        return p;
    }
    // A direction uniform over the cone's spherical cap around `direction`.
    let d = sim.direction;
    var other = vec3<f32>(0.0, 1.0, 0.0);
    if (abs(d.y) > 0.99) {
        other = vec3<f32>(1.0, 0.0, 0.0);
    }
    let t1 = normalize(cross(d, other));
    let t2 = cross(d, t1);
    let cos_t = mix(1.0, sim.spread_cos, rand(slot, 2u));
    let sin_t = sqrt(max(1.0 - cos_t * cos_t, 0.0));
    let phi = TAU * rand(slot, 3u);
    p.vel = speed * (cos_t * d + sin_t * (cos(phi) * t1 + sin(phi) * t2));
    // A position uniform inside the emitter's sphere.
    let z = 2.0 * rand(slot, 4u) - 1.0;
    let a = TAU * rand(slot, 5u);
    let s = sqrt(max(1.0 - z * z, 0.0));
    let r = sim.radius * pow(rand(slot, 6u), 1.0 / 3.0);
    p.pos = sim.emitter + r * vec3<f32>(s * cos(a), s * sin(a), z);
    return p;
}

// A smooth, time-varying field of sines whose phases depend on the seed.
fn turbulence_at(q: vec3<f32>, t: f32) -> vec3<f32> {
    let ph = vec3<f32>(f32(mix32(sim.seed) >> 8u), f32(mix32(sim.seed + 1u) >> 8u),
                       f32(mix32(sim.seed + 2u) >> 8u)) * (TAU / 16777216.0);
    let f = sim.turbulence_scale;
    return vec3<f32>(
        sin(q.y * f + 1.3 * t + ph.x) + sin(q.z * f * 0.7 - 0.9 * t + ph.y),
        sin(q.z * f + 1.7 * t + ph.y) + sin(q.x * f * 0.8 - 1.1 * t + ph.z),
        sin(q.x * f + 1.1 * t + ph.z) + sin(q.y * f * 0.9 - 1.5 * t + ph.x),
    ) * 0.5;
}

fn acceleration(p: Particle, t: f32) -> vec3<f32> {
    var a = vec3<f32>(0.0, -sim.gravity, 0.0);
    let rel = p.pos - sim.emitter;
    a = a + sim.swirl * cross(sim.axis, rel - dot(rel, sim.axis) * sim.axis);
    a = a + sim.turbulence * turbulence_at(p.pos, t);
    if (sim.screen == 1u) {
        a.z = 0.0;
    }
    return a;
}

@compute @workgroup_size(64)
fn cs_step(@builtin(global_invocation_id) gid: vec3<u32>) {
    let slot = gid.x;
    if (slot >= sim.capacity) {
        return;
    }
    var p = particles[slot];
    // Time this particle moves during the step: a whole frame, or for a newborn the part of the
    // frame after its birth (births are spread evenly over the frame, oldest first).
    var span = sim.frame_dt;
    let k = (slot + sim.capacity - sim.head) % sim.capacity;
    if (k < sim.n_emit) {
        p = spawn(slot);
        span = sim.frame_dt * f32(sim.n_emit - k) / f32(sim.n_emit);
    } else if (p.life <= 0.0 || p.age >= p.life) {
        return;
    }
    let steps = max(sim.substeps, 1u);
    let h = span / f32(steps);
    let decay = exp(-max(sim.drag, 0.0) * h);
    var t = sim.time + sim.frame_dt - span;
    for (var s = 0u; s < steps; s = s + 1u) {
        p.vel = (p.vel + acceleration(p, t) * h) * decay;
        p.pos = p.pos + p.vel * h;
        p.age = p.age + h;
        t = t + h;
    }
    particles[slot] = p;
}
