import { describe, expect, it } from 'vitest';
import { BufferBudget } from './buffer-budget.js';

describe('BufferBudget', () => {
  it('takes what fits, refuses what does not without taking anything, and gives back', () => {
    const budget = new BufferBudget(100);
    expect(budget.reserve(60)).toBe(true);
    expect(budget.reserve(50)).toBe(false);
    expect(budget.used).toBe(60);
    expect(budget.reserve(40)).toBe(true);
    expect(budget.used).toBe(100);
    expect(budget.reserve(1)).toBe(false);
    budget.release(60);
    expect(budget.reserve(50)).toBe(true);
    expect(budget.used).toBe(90);
  });

  it('a request larger than the whole budget never fits; empty bodies always do', () => {
    const budget = new BufferBudget(10);
    expect(budget.reserve(11)).toBe(false);
    expect(budget.reserve(0)).toBe(true);
    expect(budget.used).toBe(0);
  });

  it('never goes below zero when more is given back than was taken', () => {
    const budget = new BufferBudget(10);
    budget.reserve(5);
    budget.release(8);
    expect(budget.used).toBe(0);
  });
});
