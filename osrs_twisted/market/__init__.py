"""The Grand Exchange market: prices, money-making actions, buy limits and the fleet allocator."""
