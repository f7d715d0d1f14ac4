"""The number puzzle (DESIGN §1): value type and step rule, env, rewards, exact DP, solver, generator, suites, planner, hierarchy, encoders, curriculum, the puzzle task and its evaluation."""
