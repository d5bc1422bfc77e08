print("corral-agent: not yet")
