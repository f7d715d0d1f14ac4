"""The learning engine: task protocol, batched-env loop, networks, the DQN update, agent, guard, exploration, replay and trainer. It knows nothing of puzzles or Gymnasium."""
