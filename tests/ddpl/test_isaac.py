"""Isaac Lab adapter (lqgx.ddpl.envs.isaac) against a numpy stand-in of the DirectMARLEnv contract.

The stand-in follows ``Isaac-Shadow-Hand-Over-Direct-v0`` as read from Isaac Lab's sources:
``possible_agents``, dict-valued ``reset()``/``step(actions)`` over a leading ``num_envs`` axis,
``state()`` = [right hand 133, left hand 133, shared 24], observation of a hand = [its hand block,
shared block], and a sub-environment reset inside ``step`` when every agent terminated or every
agent timed out. Its outgoing dicts list agents alphabetically, not in ``possible_agents`` order,
and its rewards differ per agent, so a mapping by position or a wrong reduction shows.
"""

import subprocess
import sys
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lqgx.ddpl import envs
from lqgx.ddpl.envs import isaac
from lqgx.ddpl.envs.isaac import (IsaacEnvState, IsaacLabUnavailableError, IsaacMARLEnv,
                                  shadow_hand_over_observations, split_agents, stack_agents)

HANDS = ("right_hand", "left_hand")
ORDERS = [HANDS, HANDS[::-1]]


class DLPackTensor:
    """A non-numpy tensor that exports only the DLPack protocol (as a torch tensor does)."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def aligned_zeros(shape, align=64):
    """float32 zeros starting on an ``align``-byte boundary (so DLPack can share the buffer)."""
    size = int(np.prod(shape))
    raw = np.zeros(size + align // 4, np.float32)
    start = (-raw.ctypes.data % align) // 4
    return raw[start:start + size].reshape(shape)


class StandInShadowHandOver:
    """DirectMARLEnv contract of Isaac-Shadow-Hand-Over-Direct-v0 on numpy arrays."""

    def __init__(self, num_envs=3, max_episode_length=6, possible_agents=HANDS, tensor=np.asarray):
        self.possible_agents = list(possible_agents)
        self.agents = list(possible_agents)
        self.num_envs = num_envs
        self.max_episode_length = max_episode_length
        self.state_space = SimpleNamespace(shape=(290,))
        self.fall = {a: np.zeros(num_envs, bool) for a in HANDS}  # termination at the next step
        self.received = []        # every actions dict passed to step
        self.reset_calls = 0
        self.reset_rows = {}      # env id -> state row written by its latest reset
        self._tensor = tensor
        self._state_buf = aligned_zeros((num_envs, 290))  # rewritten in place by state()

    @property
    def unwrapped(self):
        return self

    def action_space(self, agent):
        return SimpleNamespace(shape=(20,))

    def observation_space(self, agent):
        return SimpleNamespace(shape=(157,))

    def _reset_idx(self, ids):
        for a in HANDS:
            self._hand[a][ids] = self._rng.normal(size=(len(ids), 133))
        self._shared[ids] = self._rng.normal(size=(len(ids), 24))
        self.episode_length[ids] = 0
        for e in ids:
            self.reset_rows[int(e)] = self._row(e)

    def _row(self, e):
        return np.concatenate([self._hand["right_hand"][e], self._hand["left_hand"][e],
                               self._shared[e]]).astype(np.float32)

    def _observations(self):
        obs = {a: np.concatenate([self._hand[a], self._shared], -1).astype(np.float32)
               for a in sorted(self.possible_agents)}
        return {a: self._tensor(v) for a, v in obs.items()}

    def reset(self, seed=None, options=None):
        self.reset_calls += 1
        self._rng = np.random.default_rng(seed)
        self._hand = {a: np.zeros((self.num_envs, 133)) for a in HANDS}
        self._shared = np.zeros((self.num_envs, 24))
        self.episode_length = np.zeros(self.num_envs, int)
        self._reset_idx(np.arange(self.num_envs))
        return self._observations(), {a: {} for a in self.possible_agents}

    def state(self):
        for e in range(self.num_envs):
            self._state_buf[e] = self._row(e)
        return self._tensor(self._state_buf)

    def step(self, actions):
        actions = {a: np.asarray(v) for a, v in actions.items()}
        assert sorted(actions) == sorted(self.possible_agents)
        for v in actions.values():
            assert v.shape == (self.num_envs, 20) and v.dtype == np.float32
        self.received.append({a: v.copy() for a, v in actions.items()})
        for a in HANDS:
            self._hand[a][:, :20] += 0.1 * actions[a]
            self._hand[a][:, -20:] = actions[a]        # applied actions are part of the obs
        self._shared[:, 0] += 0.01 * (actions["right_hand"].sum(-1) - actions["left_hand"].sum(-1))
        self.episode_length += 1
        terminated = {a: self._tensor(self.fall[a].copy()) for a in sorted(self.possible_agents)}
        time_out = {a: self._tensor(self.episode_length >= self.max_episode_length)
                    for a in sorted(self.possible_agents)}
        dist = np.abs(self._shared[:, 0])
        self.last_rewards = {"right_hand": 2 * np.exp(-20 * dist), "left_hand": np.exp(-dist)}
        rewards = {a: self._tensor(self.last_rewards[a].astype(np.float32))
                   for a in sorted(self.possible_agents)}
        all_fell = np.all([self.fall[a] for a in HANDS], axis=0)
        all_out = self.episode_length >= self.max_episode_length
        self._reset_idx(np.nonzero(all_fell | all_out)[0])
        self.fall = {a: np.zeros(self.num_envs, bool) for a in HANDS}
        return self._observations(), rewards, terminated, time_out, {}


def adapter(standin, dlpack=False):
    return IsaacMARLEnv("stand-in", standin, observe=shadow_hand_over_observations,
                        action_low=-1.0, action_high=1.0,
                        actions_to_env=np.from_dlpack if dlpack else np.asarray)


def agent_actions(key, num_envs, agents):
    """Actions in (-1, 1) whose sign tells the agents apart: right hand > 0, left hand < 0."""
    mag = jax.random.uniform(key, (num_envs, len(agents), 20), minval=0.05, maxval=0.95)
    sign = jnp.array([1.0 if a == "right_hand" else -1.0 for a in agents])[None, :, None]
    return (mag * sign).astype(jnp.float32)


@pytest.mark.parametrize("agents", ORDERS)
def test_stack_and_split_map_agents_by_name(agents):
    values = {"left_hand": np.full((4, 157), -1.0, np.float32),
              "right_hand": np.full((4, 157), 1.0, np.float32)}
    stacked = stack_agents(agents, values)
    assert stacked.shape == (4, 2, 157)
    for i, a in enumerate(agents):
        np.testing.assert_array_equal(stacked[:, i], values[a])
    actions = jnp.stack([jnp.full((4, 20), 1.0 if a == "right_hand" else -1.0) for a in agents], 1)
    split = split_agents(agents, actions, np.asarray)
    assert set(split) == set(HANDS)
    np.testing.assert_array_equal(split["right_hand"], np.ones((4, 20)))
    np.testing.assert_array_equal(split["left_hand"], -np.ones((4, 20)))
    np.testing.assert_array_equal(stack_agents(agents, split), actions)


def test_mapping_rejects_missing_agents_and_bad_shapes():
    with pytest.raises(ValueError, match="values: no entry for agents \\['left_hand'\\]"):
        stack_agents(HANDS, {"right_hand": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="actions"):
        split_agents(HANDS, jnp.zeros((2, 3, 20)), np.asarray)
    with pytest.raises(ValueError, match="state"):
        shadow_hand_over_observations(jnp.zeros((2, 289)))
    with pytest.raises(ValueError, match="agents"):
        shadow_hand_over_observations(jnp.zeros(290), ("right_hand", "third_hand"))
    with pytest.raises(TypeError, match="x:"):
        isaac.to_jax([1.0, 2.0])


@pytest.mark.parametrize("agents", ORDERS)
def test_adapter_dims_follow_the_env(agents):
    env = adapter(StandInShadowHandOver(num_envs=3, possible_agents=agents))
    assert env.agents == agents
    assert (env.num_agents, env.num_envs) == (2, 3)
    assert (env.action_dim, env.obs_dim, env.state_dim) == (20, 157, 290)
    assert env.action_low == (-1.0,) * 20 and env.action_high == (1.0,) * 20
    assert env.max_steps == 6


@pytest.mark.parametrize("agents", ORDERS)
def test_observe_slices_state_into_each_hands_observation(agents):
    standin = StandInShadowHandOver(num_envs=2, possible_agents=agents)
    env = adapter(standin)
    state, env_state = env.reset(jax.random.PRNGKey(0))
    assert state.shape == (2, 290) and env_state.obs.shape == (2, 2, 157)
    obs = standin._observations()
    for i, a in enumerate(agents):
        np.testing.assert_array_equal(env_state.obs[:, i], obs[a])
    np.testing.assert_array_equal(env.observe(state), env_state.obs)
    np.testing.assert_array_equal(env.observe(state[1]), env_state.obs[1])


@pytest.mark.parametrize("dlpack", [False, True], ids=["numpy", "dlpack"])
@pytest.mark.parametrize("agents", ORDERS)
def test_step_round_trip(agents, dlpack):
    tensor = DLPackTensor if dlpack else np.asarray
    standin = StandInShadowHandOver(num_envs=3, possible_agents=agents, tensor=tensor)
    env = adapter(standin, dlpack)
    state, es = env.reset(jax.random.PRNGKey(1))
    for t in range(3):
        actions = agent_actions(jax.random.PRNGKey(10 + t), 3, agents)
        state, es, reward, done = env.step(jax.random.PRNGKey(t), es, actions)
        got = standin.received[-1]
        for i, a in enumerate(agents):
            np.testing.assert_array_equal(got[a], np.asarray(actions[:, i]))
        np.testing.assert_allclose(reward, (standin.last_rewards["right_hand"]
                                            + standin.last_rewards["left_hand"]) / 2, rtol=1e-6)
        np.testing.assert_array_equal(state, standin._state_buf)
        np.testing.assert_array_equal(env.observe(state), es.obs)
        assert reward.shape == done.shape == (3,) and not bool(done.any())
    assert standin.reset_calls == 1


def test_done_is_the_envs_own_reset_rule_and_auto_reset_is_kept():
    standin = StandInShadowHandOver(num_envs=3, max_episode_length=4)
    env = adapter(standin)
    state, es = env.reset(jax.random.PRNGKey(2))
    actions = agent_actions(jax.random.PRNGKey(3), 3, HANDS)

    standin.fall["right_hand"][0] = True                      # one hand only: no reset
    state, es, _, done = env.step(None, es, actions)
    np.testing.assert_array_equal(done, [False, False, False])
    np.testing.assert_array_equal(es.terminated, [False, False, False])
    assert standin.episode_length[0] == 1

    standin.fall["right_hand"][1] = standin.fall["left_hand"][1] = True
    state, es, _, done = env.step(None, es, actions)
    np.testing.assert_array_equal(done, [False, True, False])
    np.testing.assert_array_equal(es.terminated, [False, True, False])
    np.testing.assert_array_equal(state[1], standin.reset_rows[1])   # next episode's first state
    np.testing.assert_array_equal(es.obs[1], env.observe(state[1]))

    for _ in range(2):
        state, es, _, done = env.step(None, es, actions)
    np.testing.assert_array_equal(done, [True, False, True])       # time-out after 4 steps
    np.testing.assert_array_equal(es.truncated, [True, False, True])
    np.testing.assert_array_equal(es.terminated, [False, False, False])
    for e in (0, 2):
        np.testing.assert_array_equal(state[e], standin.reset_rows[e])
    assert standin.reset_calls == 1                              # resets happened inside step


def test_actions_are_clipped_to_the_box():
    standin = StandInShadowHandOver(num_envs=2)
    env = adapter(standin)
    _, es = env.reset(jax.random.PRNGKey(0))
    actions = jnp.full((2, 2, 20), 3.0).at[:, 1].set(-3.0)
    env.step(None, es, actions)
    np.testing.assert_array_equal(standin.received[-1]["right_hand"], np.ones((2, 20)))
    np.testing.assert_array_equal(standin.received[-1]["left_hand"], -np.ones((2, 20)))


def test_step_rejects_bad_actions_and_stale_env_state():
    env = adapter(StandInShadowHandOver(num_envs=2))
    actions = jnp.zeros((2, 2, 20))
    with pytest.raises(ValueError, match="call reset first"):
        env.step(None, IsaacEnvState(None, None, None, 0), actions)
    _, es0 = env.reset(jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="actions: expected shape \\[2, 2, 20\\]"):
        env.step(None, es0, jnp.zeros((2, 20)))
    _, es1, _, _ = env.step(None, es0, actions)
    with pytest.raises(ValueError, match="env_state"):
        env.step(None, es0, actions)
    env.step(None, es1, actions)


def test_outputs_do_not_alias_the_envs_buffers():
    standin = StandInShadowHandOver(num_envs=2, tensor=DLPackTensor)
    env = adapter(standin, dlpack=True)
    state, es = env.reset(jax.random.PRNGKey(0))
    before = np.array(state)
    env.step(None, es, agent_actions(jax.random.PRNGKey(1), 2, HANDS))  # rewrites _state_buf
    assert not np.array_equal(standin._state_buf, before)
    np.testing.assert_array_equal(state, before)


needs_missing = pytest.mark.skipif(not isaac.missing_requirements(),
                                   reason="this machine has what Isaac Lab needs")


@needs_missing
def test_make_raises_one_clear_error_here():
    assert "isaac-shadow-hand-over" in envs.NAMES
    with pytest.raises(IsaacLabUnavailableError) as info:
        envs.make("isaac-shadow-hand-over")
    assert isinstance(info.value, RuntimeError)
    message = str(info.value)
    assert "\n" not in message
    for needed in ("Python >= 3.12", "isaaclab", "GPU", "Isaac assets", "pip install"):
        assert needed in message, needed
    assert "isaaclab" not in sys.modules and "torch" not in sys.modules


def test_make_validates_options_before_requirements():
    with pytest.raises(ValueError, match="num_envs"):
        envs.make("isaac-shadow-hand-over", num_envs=0)
    with pytest.raises(ValueError, match="device"):
        envs.make("isaac-shadow-hand-over", device="cpu")
    with pytest.raises(TypeError, match="horizon"):
        envs.make("isaac-shadow-hand-over", horizon=3)


def test_requirement_message_lists_only_what_is_missing(monkeypatch):
    monkeypatch.setattr(isaac, "missing_requirements", lambda: ["a CUDA GPU (get one)"])
    with pytest.raises(IsaacLabUnavailableError, match="missing here: a CUDA GPU \\(get one\\)\\."):
        isaac.require()


@needs_missing
def test_cli_train_prints_one_line_and_exits_2():
    run = subprocess.run([sys.executable, "-m", "lqgx", "ddpl", "train", "isaac-shadow-hand-over"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
    for needed in ("Python >= 3.12", "isaaclab", "GPU"):
        assert needed in lines[0], needed


def test_cli_train_says_training_is_not_wired_where_isaac_lab_exists(monkeypatch, capsys):
    from lqgx.ddpl import cli as ddpl_cli

    monkeypatch.setattr(isaac, "missing_requirements", lambda: [])
    monkeypatch.setattr(isaac, "make_shadow_hand_over", lambda **kw: pytest.fail("launched Isaac"))
    with pytest.raises(SystemExit) as info:
        ddpl_cli.train("isaac-shadow-hand-over")
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "cannot drive isaac-shadow-hand-over yet" in lines[0]
